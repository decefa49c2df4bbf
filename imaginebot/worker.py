"""The worker: claims batches from the queue, runs them through the engine, stores the results.

One loop per worker (one per GPU): requeue expired leases → claim a fair batch of compatible jobs →
`engine.generate(...)` while a watcher renews the leases, stores throttled progress and notices
cancellations → store the results (or fail / retry) → repeat. Idle, it waits for a wake-up (PostgreSQL
LISTEN, or an enqueue in this process) or polls with back-off from `queue.poll_interval` up to 1 s.

Stopping (SIGTERM/SIGINT set `stop`): the current batch may finish within `queue.lease_seconds`;
otherwise its jobs go back to the queue without counting an attempt and the loop ends.

Jobs may run more than once (a worker that dies loses its lease; see db/lifecycle.py): results are only
stored if this worker still holds the lease, and they are keyed by (job id, image index).

Logs: every line about a job starts with `job <id>:` and names the worker, so one grep follows a job
across bot and worker hosts. Each generated batch is observed by `metrics.observe_batch`; `serve()`
serves /health and /metrics when `metrics.enabled`.

For tests and benchmarks, `python -m imaginebot.worker --engine MODULE:FACTORY` runs a worker whose
engine is `FACTORY(settings)`; the `imaginebot worker` command always loads the real engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from db.queue import ClaimedJob, ProgressUpdate, Queue
from db.session import check_schema
from db.wake import Wakeup
from imaginebot import metrics
from imaginebot.config import ConfigError, Settings, load_settings
from imaginebot.domain import (
    AsyncEngine,
    GenerationCancelled,
    GenerationError,
    GenProgress,
    GenResult,
    JobStatus,
)

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0  # seconds between progress writes of one job
MAX_IDLE_POLL = 1.0
ENGINE_STOP_GRACE = 10.0  # seconds a dropped batch gets to notice the cancellation
SETTLE_ATTEMPTS = 3  # tries to store a finished batch before its leases are left to lapse
SETTLE_RETRY_DELAY = 1.0  # seconds before the second try (then 2 s)
WATCHER_STOP_GRACE = 60.0  # seconds the lease watcher gets to finish a write (longer than busy_timeout)

EngineFactory = Callable[[], AsyncEngine | Awaitable[AsyncEngine]]


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class _Batch:
    """What the worker knows about the batch in flight. `dropped` is read from the engine's thread."""

    def __init__(self, jobs: Sequence[ClaimedJob]) -> None:
        self.jobs = list(jobs)
        self.ids = [j.id for j in jobs]
        self.dropped: set[str] = set()  # cancelled, lease lost, or handed back: never store their results
        self.pending: dict[str, ProgressUpdate] = {}
        self.written_at: dict[str, float] = {}
        self.released = False
        self.started = time.monotonic()
        self.seconds = 0.0  # the engine's wall time, set when generation ends

    def describe(self) -> str:
        return ", ".join(self.ids)

    def on_generated(self, _: object) -> None:
        self.seconds = time.monotonic() - self.started

    def live(self) -> list[str]:
        return [i for i in self.ids if i not in self.dropped]

    def is_dropped(self, job_id: str) -> bool:
        return job_id in self.dropped

    def on_progress(self, p: GenProgress) -> None:
        for job_id in p.job_ids:
            preview = p.previews.get(job_id) or (p.preview_jpeg if len(p.job_ids) == 1 else None)
            old = self.pending.get(job_id)
            if preview is None and old is not None:
                preview = old.preview_jpeg
            self.pending[job_id] = ProgressUpdate(job_id, p.percent, preview)

    def due_progress(self, now: float) -> list[ProgressUpdate]:
        due = [u for i, u in self.pending.items() if now - self.written_at.get(i, 0.0) >= PROGRESS_INTERVAL]
        for u in due:
            del self.pending[u.job_id]
            self.written_at[u.job_id] = now
        return [u for u in due if u.job_id not in self.dropped]


class Worker:
    def __init__(
        self,
        queue: Queue,
        engine: AsyncEngine,
        settings: Settings,
        worker_id: str | None = None,
        *,
        drain_timeout: float | None = None,
    ) -> None:
        self.queue = queue
        self.engine = engine
        self.settings = settings
        self.id = worker_id or default_worker_id()
        self.lease = settings.queue.lease_seconds
        self.drain_timeout = self.lease if drain_timeout is None else drain_timeout
        self.batches_done = 0
        self.empty_claims = 0
        self._requeue_every = max(0.2, min(self.lease / 2, 5.0))
        self._next_requeue = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; returns after the batch in flight is finished or handed back."""
        poll = self.settings.queue.poll_interval
        delay = poll
        log.info(
            "worker %s started (model %s, up to %d images a batch)",
            self.id,
            self.engine.model_id,
            self.settings.queue.max_batch,
        )
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
        log.info("worker %s stopped after %d batch(es)", self.id, self.batches_done)

    @staticmethod
    async def _forward_stop(stop: asyncio.Event, wake: Wakeup) -> None:
        await stop.wait()
        wake.set()

    async def _step(self, stop: asyncio.Event) -> bool:
        """One claim and its batch; False when there was nothing to do (or the database failed)."""
        try:
            await self._requeue_if_due()
            jobs = await self.queue.claim(
                self.id, model=self.engine.model_id, max_images=self.settings.queue.max_batch
            )
        except Exception:
            log.exception("worker %s: cannot reach the queue; retrying", self.id)
            return False
        if not jobs:
            self.empty_claims += 1
            return False
        try:
            await self._run_batch(jobs, stop)
        except Exception:  # the jobs' leases lapse and another claim retries them
            log.exception(
                "worker %s: could not settle jobs %s; their leases lapse and they are retried",
                self.id,
                ", ".join(j.id for j in jobs),
            )
        self.batches_done += 1
        return True

    async def _requeue_if_due(self) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._next_requeue:
            self._next_requeue = now + self._requeue_every
            await self.queue.requeue_expired()

    async def _run_batch(self, jobs: list[ClaimedJob], stop: asyncio.Event) -> None:
        batch = _Batch(jobs)
        images = sum(j.image_count for j in jobs)
        for j in jobs:
            log.info(
                "job %s: started on worker %s (%s, attempt %d of %d, batch of %d job(s), %d image(s))",
                j.id,
                self.id,
                j.kind.value,
                j.attempts,
                self.settings.queue.max_attempts,
                len(jobs),
                images,
            )
        requests = [j.request() for j in jobs]
        gen = asyncio.create_task(self.engine.generate(requests, batch.on_progress, batch.is_dropped))
        gen.add_done_callback(batch.on_generated)
        generated = asyncio.Event()
        watcher = asyncio.create_task(self._watch(batch, generated))
        try:
            await self._await_generation(gen, batch, stop)
        except asyncio.CancelledError:  # torn down from outside: stop the engine; the leases lapse
            batch.dropped.update(batch.ids)
            gen.cancel()
            raise
        finally:
            await self._stop_watcher(watcher, generated)
        if not batch.released:
            await self._settle(batch, gen)

    async def _await_generation(
        self, gen: asyncio.Task[list[GenResult]], batch: _Batch, stop: asyncio.Event
    ) -> None:
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
    async def _stop_watcher(watcher: asyncio.Task[None], generated: asyncio.Event) -> None:
        """Let the watcher finish the database write it may be in, then end.

        Cancelling it in the middle of one would abandon a SQLite connection that already holds the
        write lock (aiosqlite completes the BEGIN IMMEDIATE on its own thread): every later write of
        the process would then wait out busy_timeout and fail.
        """
        generated.set()
        done, _ = await asyncio.wait({watcher}, timeout=WATCHER_STOP_GRACE)
        if not done:  # a write stuck far beyond its busy timeout: give up on it
            watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    async def _watch(self, batch: _Batch, generated: asyncio.Event) -> None:
        """Renew leases every lease/3, store progress at most once a second a job, notice cancellations;
        until `generated` is set."""
        loop = asyncio.get_running_loop()
        tick = min(1.0, self.lease / 3)
        renew_at = loop.time() + self.lease / 3
        while True:
            try:
                await asyncio.wait_for(generated.wait(), tick)
                return
            except TimeoutError:
                pass
            try:
                updates = batch.due_progress(loop.time())
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

    async def _settle(self, batch: _Batch, gen: asyncio.Task[list[GenResult]]) -> None:
        try:
            results = gen.result()
        except GenerationCancelled:
            for job_id in await self.queue.release(self.id, batch.live()):
                log.info("job %s: engine stopped early on worker %s; back in the queue", job_id, self.id)
            return
        except GenerationError as exc:
            reason = str(exc).rstrip(".") or type(exc).__name__
            for job_id in batch.live():
                status = await self.queue.fail(
                    job_id, self.id, f"The image generator failed: {reason}.", retry=False
                )
                self._log_failure(job_id, status, f"generation failed: {reason}")
            return
        except Exception:
            log.exception("worker %s: engine error for jobs %s", self.id, ", ".join(batch.live()))
            for job_id in batch.live():
                status = await self.queue.fail(
                    job_id, self.id, "The image generator hit an unexpected error.", retry=True
                )
                self._log_failure(job_id, status, "engine error")
            return
        metrics.observe_batch(batch.seconds, sum(len(r.images) for r in results))
        mine = [r for r in results if r.job_id in batch.ids and r.job_id not in batch.dropped]
        won = await self._complete(mine)
        for r in mine:
            if r.job_id in won:
                log.info(
                    "job %s: succeeded on worker %s (%d image(s), %.2f s batch)",
                    r.job_id,
                    self.id,
                    len(r.images),
                    batch.seconds,
                )
        returned = {r.job_id for r in mine}
        for job_id in batch.live():
            if job_id not in returned:
                status = await self.queue.fail(
                    job_id, self.id, "The image generator returned no images.", retry=True
                )
                self._log_failure(job_id, status, "the engine returned no images")
            elif job_id not in won:
                log.info("job %s: cancelled or lease lost; worker %s dropped its results", job_id, self.id)

    async def _complete(self, results: list[GenResult]) -> set[str]:
        """Store a batch's results, retrying a failed transaction a few times: the images cost GPU
        seconds, and a database blip (a restart, a lock held by a backup) should not throw them away.
        Storing is a compare-and-set on this worker's lease, so a retry can never store twice."""
        for attempt in range(1, SETTLE_ATTEMPTS):
            try:
                return await self.queue.complete_many(self.id, results)
            except Exception:
                log.warning(
                    "worker %s: storing the results of %s failed (attempt %d of %d); retrying",
                    self.id,
                    ", ".join(r.job_id for r in results),
                    attempt,
                    SETTLE_ATTEMPTS,
                    exc_info=True,
                )
                await asyncio.sleep(SETTLE_RETRY_DELAY * attempt)
        return await self.queue.complete_many(self.id, results)  # the last try: its error propagates

    def _log_failure(self, job_id: str, status: JobStatus | None, what: str) -> None:
        if status is JobStatus.QUEUED:
            log.warning("job %s: %s on worker %s; queued again", job_id, what, self.id)
        elif status is JobStatus.FAILED:
            log.warning("job %s: %s on worker %s; failed and refunded", job_id, what, self.id)
        else:
            log.info("job %s: %s on worker %s; cancelled or lease lost meanwhile", job_id, what, self.id)


async def serve(settings: Settings, make_engine: EngineFactory, *, worker_id: str | None = None) -> int:
    """Run one worker until SIGTERM/SIGINT. Raises SchemaOutdated / DatabaseUnavailable before starting,
    and ConfigError when `metrics.enabled` and the metrics port cannot be opened.

    With `metrics.enabled`, /health and /metrics are served from before the engine loads until the
    worker has stopped.
    """
    queue = Queue.open(settings)
    server = None
    try:
        await check_schema(queue.engine)
        if settings.metrics.enabled:
            server = await start_metrics(settings, queue)
        engine = make_engine()
        if inspect.isawaitable(engine):
            engine = await engine
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await Worker(queue, engine, settings, worker_id).run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            closer = getattr(engine, "aclose", None) or getattr(engine, "close", None)
            if closer is not None:
                result = closer()
                if inspect.isawaitable(result):
                    await result
    finally:
        if server is not None:
            await server.cleanup()
        await queue.close()
    return 0


async def start_metrics(settings: Settings, queue: Queue) -> web.AppRunner:
    """/health and /metrics for this worker; ConfigError (one line) when the port cannot be opened."""
    m = settings.metrics
    try:
        return await metrics.start_server(queue.stats, m.host, m.port, role="worker")
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {m.host}:{m.port} (metrics.host, metrics.port): {exc.strerror or exc}"
        ) from None


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.app.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are per-plugin noise


def _test_main(argv: Sequence[str] | None = None) -> int:
    from db.session import DatabaseUnavailable, SchemaOutdated

    parser = argparse.ArgumentParser(prog="python -m imaginebot.worker", description=__doc__)
    parser.add_argument(
        "--engine", required=True, metavar="MODULE:FACTORY", help="FACTORY(settings) -> engine"
    )
    parser.add_argument("--config", metavar="F")
    parser.add_argument("--worker-id")
    args = parser.parse_args(argv)
    module_name, _, attr = args.engine.partition(":")
    try:
        settings = load_settings(args.config)
        factory = getattr(importlib.import_module(module_name), attr)
        configure_logging(settings)
        return asyncio.run(serve(settings, lambda: factory(settings), worker_id=args.worker_id))
    except (ConfigError, SchemaOutdated, DatabaseUnavailable) as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_test_main())
