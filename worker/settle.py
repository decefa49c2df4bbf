"""Settling a generated batch: its results stored, or its jobs released, failed or retried (worker.loop)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Protocol, runtime_checkable

from db.queue import Lifecycle
from imaginebot.core import metrics
from imaginebot.core.domain import (
    Failure,
    GenerationCancelled,
    GenerationError,
    GenResult,
    JobStatus,
    TransientGenerationError,
)
from imaginebot.core.images import encode_pictures
from worker.batch import Batch

log = logging.getLogger("worker.loop")

SETTLE_ATTEMPTS = 3  # tries to store a finished batch before its leases are left to lapse
SETTLE_RETRY_DELAY = 1.0  # seconds before the second try (then 2 s)
Generation = asyncio.Task[list[GenResult]]


@runtime_checkable
class Moderating(Protocol):
    """An engine with an image check (gen.runner.ThreadedEngine): sets `GenResult.flags`."""

    async def moderate(self, results: list[GenResult]) -> list[GenResult]: ...


class Settler:
    """One worker's writes of outcomes: every log line names the job and the worker."""

    def __init__(self, queue: Lifecycle, worker_id: str) -> None:
        self.queue = queue
        self.id = worker_id

    async def settle(self, batch: Batch, gen: Generation, engine: object = None) -> None:
        """Store a generated batch's results; or release, fail or retry its jobs as its outcome says.

        An `engine` with an image check (`Moderating`) gives each image its verdict first, while the
        next batch already generates."""
        try:
            results = gen.result()
        except GenerationCancelled:
            for job_id in await self.queue.release(self.id, batch.live()):
                log.info("job %s: engine stopped early on worker %s; back in the queue", job_id, self.id)
            return
        except GenerationError as exc:  # it would fail again: no retry
            await self.fail_batch(batch, exc.failure, retry=False, detail=_reason(exc))
            return
        except TransientGenerationError as exc:  # the device or its driver: another try may succeed
            await self.fail_batch(batch, Failure.DEVICE_ERROR, retry=True, detail=_reason(exc))
            return
        except Exception:
            log.exception("worker %s: engine error for jobs %s", self.id, ", ".join(batch.live()))
            await self.fail_batch(batch, Failure.ENGINE_ERROR, retry=True)
            return
        if isinstance(engine, Moderating):
            results = await engine.moderate(results)
        results = await encode_pictures(results)  # what a pipelined engine left: off the loop
        metrics.observe_batch(batch.seconds, sum(len(r.images) for r in results))
        ours = [r for r in results if r.job_id in batch.ids and r.job_id not in batch.dropped]
        failed_alone = set()
        for r in ours:
            if r.failure is not None:  # this job alone failed, in a way that would repeat
                failed_alone.add(r.job_id)
                await self.fail_job(r.job_id, r.failure, retry=False, detail=r.detail)
        gpu = batch.gpu_seconds()
        mine = [replace(r, gpu_seconds=gpu.get(r.job_id)) for r in ours if r.failure is None]
        won = await self.complete(mine) if mine else set()
        for r in mine:
            if r.job_id in won:
                log.info(
                    "job %s: succeeded on worker %s (%d image(s), %.2f s batch)",
                    r.job_id,
                    self.id,
                    len(r.images),
                    batch.seconds,
                )
        returned = {r.job_id for r in ours}
        for job_id in batch.live():
            if job_id not in returned:
                await self.fail_job(job_id, Failure.NO_IMAGES, retry=True)
            elif job_id not in won and job_id not in failed_alone:
                log.info("job %s: cancelled or lease lost; worker %s dropped its results", job_id, self.id)

    async def fail_batch(self, batch: Batch, failure: Failure, *, retry: bool, detail: str = "") -> None:
        for job_id in batch.live():
            await self.fail_job(job_id, failure, retry=retry, detail=detail)

    async def fail_job(self, job_id: str, failure: Failure, *, retry: bool, detail: str = "") -> None:
        status = await self.queue.fail(job_id, self.id, failure, retry=retry, detail=detail)
        self._log_failure(job_id, status, f"{failure.value}{': ' + detail if detail else ''}")

    async def complete(self, results: list[GenResult]) -> set[str]:
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


def _reason(exc: BaseException) -> str:
    return str(exc).rstrip(".") or type(exc).__name__
