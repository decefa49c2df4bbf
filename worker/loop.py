"""The worker: claims batches from the queue, runs them through the engine, stores the results.

One loop per worker (one per GPU): requeue expired leases → pick the model to serve next (worker.pool:
the loaded ones first, but no model's jobs wait past `queue.model_switch_after`) → claim a fair batch of
compatible jobs of it → `engine.generate(...)` while a watcher renews the leases, stores throttled
progress and notices cancellations → hand the results on to be encoded and stored (or failed / retried)
→ repeat. Storing a batch overlaps the next batch's generation (one batch at a time), so the device does
not wait for it. Idle, it waits for a wake-up (PostgreSQL LISTEN, or an enqueue in this process) or
polls with back-off from `queue.poll_interval` up to 1 s.

Stopping (SIGTERM/SIGINT set `stop`): the current batch may finish within `queue.lease_seconds`;
otherwise its jobs go back to the queue without counting an attempt and the loop ends.

Jobs may run more than once (a worker that dies loses its lease; see db/lifecycle.py): results are only
stored if this worker still holds the lease, and they are keyed by (job id, image index).

Logs: every line about a job starts with `job <id>:` and names the worker, so one grep follows a job
across bot and worker hosts. Each generated batch is observed by `metrics.observe_batch`; `serve()`
serves /health and /metrics when `metrics.enabled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import datetime

from db.queue import ClaimedJob, Lifecycle
from db.wake import Wakeup
from imaginebot.core.config import QueueSettings
from imaginebot.core.domain import (
    AsyncEngine,
    Failure,
)
from worker.batch import Batch
from worker.pool import EnginePool, ModelUnavailable, claim_order
from worker.settle import Generation, Settler

log = logging.getLogger(__name__)

MAX_IDLE_POLL = 1.0
ENGINE_STOP_GRACE = 10.0  # seconds a dropped batch gets to notice the cancellation
CLAIM_FIRST = 1.0  # seconds a finished batch's store waits for the next claim to be made first
WATCHER_STOP_GRACE = 60.0  # seconds the lease watcher gets to finish a write (longer than busy_timeout)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    def __init__(
        self,
        queue: Lifecycle,
        engines: AsyncEngine | EnginePool,
        options: QueueSettings,
        worker_id: str | None = None,
        *,
        drain_timeout: float | None = None,
        pipelined: bool = True,
    ) -> None:
        self.queue = queue
        self.engines = engines if isinstance(engines, EnginePool) else EnginePool.single(engines)
        self._last_served: dict[str, datetime] = {}
        self.options = options
        self.id = worker_id or default_worker_id()
        self.settler = Settler(queue, self.id)
        self.lease = options.lease_seconds
        self.drain_timeout = self.lease if drain_timeout is None else drain_timeout
        self.batches_done = 0
        self.empty_claims = 0
        self._requeue_every = max(0.2, min(self.lease / 2, 5.0))
        self._next_requeue = 0.0
        self._claimed = asyncio.Event()  # cleared while a stored batch waits for the next claim
        self.pipelined = pipelined  # False: store each batch before claiming the next (for comparison)
        self._finishing: list[asyncio.Task[None]] = []  # finished batches being encoded and stored
        self.busy_seconds = 0.0  # the engine's generation time, summed (device-busy share = this ÷ wall)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; returns after the batch in flight is finished or handed back."""
        poll = self.options.poll_interval
        delay = poll
        log.info(
            "worker %s started (model %s, up to %d images a batch, %d loaded at most)",
            self.id,
            self.engines.describe(),
            self.options.max_batch,
            self.engines.max_loaded,
        )
        await self._housekeeping()  # announce this worker before its first claim
        async with self.queue.wakeup() as wake:
            forward = asyncio.create_task(self._forward_stop(stop, wake))
            try:
                while not stop.is_set():
                    if await self._step(stop):
                        delay = poll
                        continue
                    await wake.wait(delay)
                    delay = min(delay * 2, max(poll, MAX_IDLE_POLL))
            finally:
                forward.cancel()
                await self._drain_finishing()
        try:
            await self.queue.retire(self.id)
        except Exception:  # the row goes stale and is forgotten anyway
            log.warning("worker %s: could not record that it stopped", self.id, exc_info=True)
        log.info("worker %s stopped after %d batch(es)", self.id, self.batches_done)

    @staticmethod
    async def _forward_stop(stop: asyncio.Event, wake: Wakeup) -> None:
        await stop.wait()
        wake.set()

    async def _step(self, stop: asyncio.Event) -> bool:
        """One claim and its batch; False when there was nothing to do (or the database failed)."""
        try:  # claim first: housekeeping runs while idle or while the device works (_run_batch)
            claimed = await self._claim()
            if claimed is None:
                await self._requeue_if_due()
        except Exception:
            log.exception("worker %s: cannot reach the queue; retrying", self.id)
            return False
        finally:
            self._claimed.set()
        if claimed is None:
            self.empty_claims += 1
            return False
        model, jobs = claimed
        try:
            await self._run_batch(model, jobs, stop)
        except Exception:  # the jobs' leases lapse and another claim retries them
            log.exception(
                "worker %s: could not settle jobs %s; their leases lapse and they are retried",
                self.id,
                ", ".join(j.id for j in jobs),
            )
        self.batches_done += 1
        return True

    async def _claim(self) -> tuple[str, list[ClaimedJob]] | None:
        """A batch of the model to serve next (see worker.pool.claim_order) and that model, or None."""
        pool = self.engines
        names = pool.served
        if len(names) == 1:  # one model: no need to ask what waits
            order = names
        else:
            waiting = await self.queue.oldest_waiting(names)
            loaded = [n for n in waiting if pool.is_loaded(n)]
            now = self.queue.now()
            order = claim_order(waiting, loaded, self._last_served, now, self.options.model_switch_after)
        for name in order:
            jobs = await self.queue.claim(self.id, model=name, max_images=self.options.max_batch)
            if jobs:
                self._last_served[name] = self.queue.now()
                return name, jobs
        return None

    async def _housekeeping(self) -> None:
        try:
            await self._requeue_if_due()
        except Exception:  # the next claim or housekeeping tries again
            log.warning("worker %s: housekeeping failed; retrying later", self.id, exc_info=True)

    async def _requeue_if_due(self) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._next_requeue:
            self._next_requeue = now + self._requeue_every
            # Housekeeping every few seconds: say which model this worker serves, hand expired leases
            # back, and fail the queued jobs of models no worker serves any more.
            await self.queue.announce(self.id, self.engines.served)
            await self.queue.requeue_expired()
            await self.queue.fail_unserved()

    async def _run_batch(self, model: str, jobs: list[ClaimedJob], stop: asyncio.Event) -> None:
        batch = Batch(jobs)
        images = sum(j.image_count for j in jobs)
        for j in jobs:
            log.info(
                "job %s: started on worker %s (%s, attempt %d of %d, batch of %d job(s), %d image(s))",
                j.id,
                self.id,
                j.kind.value,
                j.attempts,
                self.options.max_attempts,
                len(jobs),
                images,
            )
        requests = [j.request() for j in jobs]
        generated, stored = asyncio.Event(), asyncio.Event()
        # The watcher renews the leases until the results are stored, not only while generating: loading
        # the model and storing may take long, and a lease lapsing meanwhile would hand the jobs to another
        # worker.
        watcher = asyncio.create_task(self._watch(batch, generated, stored))
        handed_on = False
        try:
            try:
                engine = await self.engines.get(model)
            except ModelUnavailable as exc:  # it would fail again: the jobs fail, refunded, with the reason
                generated.set()
                await self.settler.fail_batch(batch, Failure.ENGINE_FAILED, retry=False, detail=str(exc))
                return
            batch.started = time.monotonic()  # the batch's time is the engine's, not the model's loading
            gen = asyncio.create_task(engine.generate(requests, batch.on_progress, batch.is_dropped))
            gen.add_done_callback(batch.on_generated)
            await self._housekeeping()
            try:
                await self._await_generation(gen, batch, stop)
            except asyncio.CancelledError:  # torn down from outside: stop the engine; the leases lapse
                batch.dropped.update(batch.ids)
                gen.cancel()
                raise
            generated.set()
            self.busy_seconds += batch.seconds
            if not batch.released:
                # Pipelining: encoded and stored while the next batch generates, so the device does not
                # wait for it; one batch at a time (the next one waits here).
                await self._drain_finishing()
                self._claimed.clear()
                finish = self._finish(batch, gen, watcher, stored, engine)
                self._finishing.append(asyncio.create_task(finish))
                handed_on = True
                if not self.pipelined:
                    await self._drain_finishing()
        finally:
            if not handed_on:
                await self._stop_watcher(watcher, stored)

    async def _finish(
        self, batch: Batch, gen: Generation, watch: asyncio.Task[None], end: asyncio.Event, engine: object
    ) -> None:
        """Check (image moderation), encode (pictures a pipelined engine left) and store a generated batch;
        then stop its watcher."""
        try:
            # The next claim first (on SQLite both write): the device should not wait for this store.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claimed.wait(), CLAIM_FIRST)
            await self.settler.settle(batch, gen, engine)
        except Exception:  # the jobs' leases lapse and another claim retries them
            log.exception("worker %s: could not store jobs %s; retried later", self.id, batch.describe())
        finally:
            await self._stop_watcher(watch, end)

    async def _drain_finishing(self) -> None:
        """Wait until the batch being encoded and stored (if any) is stored."""
        while self._finishing:
            await asyncio.wait({self._finishing.pop(0)})  # _finish logs its own errors

    async def _await_generation(self, gen: Generation, batch: Batch, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({gen, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if gen.done():
            return
        log.info(
            "worker %s: stopping; jobs %s get %.0f s to finish", self.id, batch.describe(), self.drain_timeout
        )
        await asyncio.wait({gen}, timeout=self.drain_timeout)
        if gen.done():
            return
        batch.dropped.update(batch.ids)  # the engine stops between steps
        batch.released = True
        released = await self.queue.release(self.id, batch.ids)
        for job_id in released:
            log.info("job %s: handed back to the queue by worker %s (stopping)", job_id, self.id)
        await asyncio.wait({gen}, timeout=ENGINE_STOP_GRACE)
        if not gen.done():
            gen.cancel()
        with contextlib.suppress(BaseException):
            await gen

    @staticmethod
    async def _stop_watcher(watcher: asyncio.Task[None], stored: asyncio.Event) -> None:
        """Let the watcher finish the database write it may be in, then end.

        Cancelling it in the middle of one would abandon a SQLite connection that already holds the
        write lock (aiosqlite completes the BEGIN IMMEDIATE on its own thread): every later write of
        the process would then wait out busy_timeout and fail.
        """
        stored.set()
        done, _ = await asyncio.wait({watcher}, timeout=WATCHER_STOP_GRACE)
        if not done:  # a write stuck far beyond its busy timeout: give up on it
            watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    async def _watch(self, batch: Batch, generated: asyncio.Event, stored: asyncio.Event) -> None:
        """Renew leases every lease/3 and notice cancellations until `stored` is set; store progress at
        most once a second a job until `generated` is set."""
        loop = asyncio.get_running_loop()
        tick = min(1.0, self.lease / 3)
        renew_at = loop.time() + self.lease / 3
        while True:
            try:
                await asyncio.wait_for(stored.wait(), tick)
                return
            except TimeoutError:
                pass
            try:
                updates = [] if generated.is_set() else batch.due_progress(loop.time())
                if updates:
                    await self.queue.set_progress_many(self.id, updates)
                live = batch.live()
                if loop.time() >= renew_at:
                    renew_at = loop.time() + self.lease / 3
                    held = await self.queue.heartbeat(self.id, live)
                else:
                    held = await self.queue.held(self.id, live)
                for job_id in sorted(set(live) - held):
                    log.info("job %s: cancelled or lease lost; worker %s drops its results", job_id, self.id)
                    batch.dropped.add(job_id)
            except Exception:
                log.warning(
                    "worker %s: heartbeat for jobs %s failed; retrying",
                    self.id,
                    batch.describe(),
                    exc_info=True,
                )
