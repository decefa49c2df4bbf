"""The worker loop in-process with a fake engine, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fake_engine import SleepEngine
from fixtures_db import SettingsQueue, poll_until
from sqlalchemy.exc import OperationalError

from bot import messages
from imaginebot.core.domain import GenProgress, GenResult, JobSpec, JobStatus
from worker.loop import Worker

MODEL = "tiny"


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def statuses(q: SettingsQueue, ids: list[str]) -> list[JobStatus]:
    return [(await q.reads.get_job(i)).status for i in ids]


async def test_worker_runs_fair_compatible_batches(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(queue={"max_batch": 8}, quota={"max_running": 10})
    a = await q.admission.enqueue(1, [JobSpec("a")] * 3, model=MODEL)
    b = await q.admission.enqueue(2, [JobSpec("b", width=768)] * 2, model=MODEL)
    other = await q.admission.enqueue(3, [JobSpec("c")], model="another-model")
    engine = SleepEngine(MODEL)
    ids = [j.id for j in a + b]
    async with running(Worker(q.lifecycle, engine, q.settings.queue, "w1")):
        await poll_until(lambda: _all(q, ids, JobStatus.SUCCEEDED), what="all jobs to succeed")
    assert all(len(batch) <= 2 for batch in engine.calls)  # 4 images a job, 8 a batch
    for batch in engine.calls:
        assert len({(await q.reads.get_job(i)).spec.width for i in batch}) == 1
    for job_id in ids:
        assert [i.index for i in await q.reads.get_images(job_id)] == [1, 2, 3, 4]
    assert (await q.reads.get_job(other[0].id)).status is JobStatus.QUEUED  # not this worker's model


async def _all(q: SettingsQueue, ids: list[str], status: JobStatus) -> bool:
    return all(s is status for s in await statuses(q, ids))


async def test_worker_stores_progress_and_previews(queue: SettingsQueue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = SleepEngine(MODEL, seconds=2.0, steps=20)
    async with running(Worker(queue.lifecycle, engine, queue.settings.queue, "w1")):

        async def progressing() -> bool:
            j = await queue.reads.get_job(job.id)
            return j.status is JobStatus.RUNNING and 0 < j.progress < 100

        await poll_until(progressing, what="progress")
        assert await queue.reads.get_preview(job.id) == b"\xff\xd8jpeg" + job.id.encode()
        await poll_until(lambda: _all(queue, [job.id], JobStatus.SUCCEEDED), what="success")
    assert await queue.reads.get_preview(job.id) is None


async def test_cancelling_a_running_job_stops_it_and_the_worker_goes_on(queue: SettingsQueue) -> None:
    [slow] = await queue.admission.enqueue(1, [JobSpec("slow", steps=50)], model=MODEL)
    engine = SleepEngine(MODEL, seconds=60, steps=600)
    async with running(Worker(queue.lifecycle, engine, queue.settings.queue, "w1")):
        await poll_until(lambda: _all(queue, [slow.id], JobStatus.RUNNING), what="the job to start")
        await queue.admin.cancel(slow.id, user_id=1)
        await poll_until(lambda: _true(engine.cancelled == 1), within=10, what="the engine to stop")
        engine.seconds = 0
        [fast] = await queue.admission.enqueue(1, [JobSpec("fast")], model=MODEL)
        await poll_until(lambda: _all(queue, [fast.id], JobStatus.SUCCEEDED), what="the next job")
    cancelled = await queue.reads.get_job(slow.id)
    assert cancelled.status is JobStatus.CANCELLED and not cancelled.charged  # refunded, though it ran
    assert await queue.reads.get_images(slow.id) == []


async def _true(value: bool) -> bool:
    return value


async def test_generation_error_fails_and_refunds_at_once(queue: SettingsQueue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    async with running(
        Worker(queue.lifecycle, SleepEngine(MODEL, fail="generation"), queue.settings.queue, "w1")
    ):
        await poll_until(lambda: _all(queue, [job.id], JobStatus.FAILED), what="failure")
    failed = await queue.reads.get_job(job.id)
    assert failed.attempts == 1 and not failed.charged
    reason = messages.failure(failed.failure, failed.error)  # what its user is told
    assert "out of memory" in reason and "refunded" in reason


async def test_unexpected_errors_are_retried_then_refunded(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(queue={"max_attempts": 3})
    [job] = await q.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = SleepEngine(MODEL, fail="crash")
    async with running(Worker(q.lifecycle, engine, q.settings.queue, "w1")):
        await poll_until(lambda: _all(q, [job.id], JobStatus.FAILED), what="failure")
    failed = await q.reads.get_job(job.id)
    assert failed.attempts == 3 and len(engine.calls) == 3 and not failed.charged
    assert (await q.reads.quota_info(1)).used_today == 0


async def test_idle_worker_wakes_promptly_on_enqueue(
    make_queue: Callable[..., SettingsQueue], db_backend: str
) -> None:
    q = make_queue(queue={"poll_interval": 10})  # polling alone would take 10 s
    # PostgreSQL: NOTIFY from another process's engine; SQLite: the in-process wake-up of the embedded worker.
    producer = make_queue() if db_backend == "postgresql" else q
    worker = Worker(q.lifecycle, SleepEngine(MODEL), q.settings.queue, "w1")
    async with running(worker):
        await poll_until(lambda: _true(worker.empty_claims >= 1), what="the worker to go idle")
        started = time.monotonic()
        [job] = await producer.admission.enqueue(1, [JobSpec("a")], model=MODEL)
        await poll_until(lambda: _all(q, [job.id], JobStatus.SUCCEEDED), within=5, what="the wake-up")
        assert time.monotonic() - started < 3


async def test_stop_finishes_a_short_batch(queue: SettingsQueue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = SleepEngine(MODEL, seconds=1.0, steps=10)
    worker = Worker(queue.lifecycle, engine, queue.settings.queue, "w1")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(engine.started.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert (await queue.reads.get_job(job.id)).status is JobStatus.SUCCEEDED


async def test_stop_hands_a_long_batch_back(queue: SettingsQueue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = SleepEngine(MODEL, seconds=60, steps=600)
    worker = Worker(queue.lifecycle, engine, queue.settings.queue, "w1", drain_timeout=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(engine.started.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    back = await queue.reads.get_job(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 0 and back.position == 1


class _EndsDuringProgressWrite:
    """Generation that ends while the worker's lease watcher is inside a progress write."""

    model_id = MODEL

    def __init__(self) -> None:
        self.writing = asyncio.Event()

    async def generate(self, batch: list[Any], progress: Any = None, is_cancelled: Any = None) -> list[Any]:
        if progress is not None:
            progress(GenProgress(tuple(r.job_id for r in batch), 1, 4, b"\xff\xd8preview"))
        await self.writing.wait()
        return [GenResult(r.job_id, [b"\x89PNG-x"] * r.image_count, 8, 8) for r in batch]


@pytest.mark.parametrize("db_backend", ["sqlite"])  # SQLite's file lock; PostgreSQL locks rows
async def test_a_batch_ending_during_a_blocked_progress_write_still_settles(
    make_queue: Callable[..., SettingsQueue], db_url: str
) -> None:
    """The watcher's progress write waits for SQLite's write lock (held here by another connection, as
    another process would) while generation ends. The worker must let that write finish rather than
    cancel it: an abandoned connection that then gets the lock keeps it, and the batch's results could
    not be stored."""
    q = make_queue(queue={"lease_seconds": 3})
    [job] = await q.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = _EndsDuringProgressWrite()
    other = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None, check_same_thread=False)
    original = q.lifecycle.set_progress_many

    async def blocked_write(worker_id: str, updates: Any) -> set[str]:
        if not engine.writing.is_set():
            other.execute("BEGIN IMMEDIATE")  # another writer holds the file for a while
            asyncio.get_running_loop().call_later(1.0, other.execute, "COMMIT")
            engine.writing.set()
        return await original(worker_id, updates)

    q.lifecycle.set_progress_many = blocked_write  # type: ignore[method-assign]
    try:
        async with running(Worker(q.lifecycle, engine, q.settings.queue, "w1")):
            await poll_until(lambda: _all(q, [job.id], JobStatus.SUCCEEDED), within=15, what="settling")
    finally:
        other.close()
    assert [i.index for i in await q.reads.get_images(job.id)] == [1, 2, 3, 4]


def failing_store(q: SettingsQueue, failures: int) -> list[float]:
    """Make storing a batch's results fail `failures` times (SQLite "database is locked"), then work;
    returns the list of the attempts' times, filled as they happen."""
    original = q.lifecycle.complete_many
    attempts: list[float] = []

    async def store(worker_id: str, results: Any) -> set[str]:
        attempts.append(time.monotonic())
        if len(attempts) <= failures:
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))
        return await original(worker_id, results)

    q.lifecycle.complete_many = store  # type: ignore[method-assign]
    return attempts


async def test_a_failed_store_of_a_finished_batch_is_retried(
    make_queue: Callable[..., SettingsQueue],
) -> None:
    """The images of a finished batch survive a database error while they are stored: the worker tries
    again within seconds instead of leaving the jobs to be generated again after their leases lapse."""
    q = make_queue(queue={"lease_seconds": 120})
    [job] = await q.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = SleepEngine(MODEL)
    attempts = failing_store(q, failures=1)
    async with running(Worker(q.lifecycle, engine, q.settings.queue, "w1")):
        await poll_until(lambda: _all(q, [job.id], JobStatus.SUCCEEDED), within=15, what="success")
    assert len(attempts) == 2 and len(engine.calls) == 1  # generated once, stored on the second try
    stored = await q.reads.get_job(job.id)
    assert stored.attempts == 1 and [i.index for i in await q.reads.get_images(job.id)] == [1, 2, 3, 4]


async def test_leases_are_renewed_until_the_results_are_stored(
    make_queue: Callable[..., SettingsQueue],
) -> None:
    """Storing a finished batch may take retries (here ~3 s against a 2 s lease); the heartbeat goes on
    meanwhile, so another worker judging leases never hands the finished job out again."""
    q = make_queue(queue={"lease_seconds": 2.0})
    [job] = await q.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = SleepEngine(MODEL)
    attempts = failing_store(q, failures=2)

    async def rival_worker() -> None:  # another worker's lease check, over and over
        while True:
            await q.lifecycle.requeue_expired()
            await asyncio.sleep(0.1)

    rival = asyncio.create_task(rival_worker())
    try:
        async with running(Worker(q.lifecycle, engine, q.settings.queue, "w1")):
            await poll_until(lambda: _all(q, [job.id], JobStatus.SUCCEEDED), within=20, what="success")
    finally:
        rival.cancel()
    assert len(attempts) == 3 and attempts[-1] - attempts[0] > 2.0  # the store outlived one lease
    stored = await q.reads.get_job(job.id)
    assert stored.attempts == 1 and len(engine.calls) == 1


async def test_a_job_that_fails_alone_is_failed_and_refunded_and_its_batch_keeps_its_images(
    queue: SettingsQueue,
) -> None:
    [fine] = await queue.admission.enqueue(1, [JobSpec("a small fox")], model=MODEL)
    [huge] = await queue.admission.enqueue(2, [JobSpec("a huge fox")], model=MODEL)
    engine = SleepEngine(MODEL, fail="prompt:huge")
    async with running(Worker(queue.lifecycle, engine, queue.settings.queue, "w1")):
        await poll_until(lambda: _all(queue, [huge.id], JobStatus.FAILED), what="the huge job failed")
        await poll_until(lambda: _all(queue, [fine.id], JobStatus.SUCCEEDED), what="the small job")
    assert engine.calls == [[fine.id, huge.id]]  # one batch, not retried
    failed = await queue.reads.get_job(huge.id)
    assert failed.attempts == 1 and not failed.charged
    told = messages.failure(failed.failure, failed.error)
    assert "too large" in told and "--ar" in told and "refunded" in told
    assert len(await queue.reads.get_images(fine.id)) == 4


async def test_device_errors_are_retried_then_refunded_with_a_reason(
    make_queue: Callable[..., SettingsQueue],
) -> None:
    q = make_queue(queue={"max_attempts": 2})
    [job] = await q.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    engine = SleepEngine(MODEL, fail="device")
    async with running(Worker(q.lifecycle, engine, q.settings.queue, "w1")):
        await poll_until(lambda: _all(q, [job.id], JobStatus.FAILED), what="failure")
    failed = await q.reads.get_job(job.id)
    assert failed.attempts == 2 and len(engine.calls) == 2 and not failed.charged
    told = messages.failure(failed.failure, failed.error)
    assert "GPU failed" in told and "illegal memory access" in told and "refunded" in told
