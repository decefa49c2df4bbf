"""Leases, completion, failure, refunds and cancellation, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fake_engine import solid_png
from sqlalchemy import select

from bot import messages
from db.models import Job
from db.queue import CancelOutcome, ProgressUpdate, Queue
from imaginebot.core.domain import Failure, GenResult, JobSpec, JobStatus

MODEL = "tiny"


def result(job_id: str, n: int = 4, colour: int = 0) -> GenResult:
    return GenResult(job_id, [solid_png(8, 8, (colour, k, 0)) for k in range(n)], 8, 8)


async def stored_status(q: Queue, job_id: str) -> JobStatus:
    async with q.database.read() as conn:
        return (await conn.execute(select(Job.status).where(Job.id == job_id))).scalar_one()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def test_complete_is_idempotent_and_needs_the_lease(queue: Queue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    await queue.lifecycle.claim("w1", model=MODEL, max_images=8)
    assert not await queue.lifecycle.complete(job.id, "w2", result(job.id))  # not the lease owner
    assert await queue.lifecycle.complete(job.id, "w1", result(job.id))
    assert not await queue.lifecycle.complete(
        job.id, "w1", result(job.id, colour=9)
    )  # a second run changes nothing
    images = await queue.reads.get_images(job.id)
    assert [i.index for i in images] == [1, 2, 3, 4]
    assert images[0].png == result(job.id).images[0]
    done = await queue.reads.get_job(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.progress == 100 and done.finished_at is not None


async def test_progress_and_preview_while_running(queue: Queue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    await queue.lifecycle.claim("w1", model=MODEL, max_images=8)
    assert await queue.lifecycle.set_progress(job.id, "w1", 40, b"jpeg-1")
    assert not await queue.lifecycle.set_progress(job.id, "w2", 90, b"other")
    await queue.lifecycle.set_progress_many("w1", [ProgressUpdate(job.id, 60)])
    assert (await queue.reads.get_job(job.id)).progress == 60
    assert await queue.reads.get_preview(job.id) == b"jpeg-1"
    await queue.lifecycle.complete(job.id, "w1", result(job.id))
    assert await queue.reads.get_preview(job.id) is None


async def test_expired_lease_is_requeued_then_failed_and_refunded(make_queue: Callable[..., Queue]) -> None:
    clock = Clock()
    q = make_queue(clock=clock, queue={"lease_seconds": 10, "max_attempts": 2})
    [job] = await q.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    await q.lifecycle.claim("w1", model=MODEL, max_images=8)
    clock.advance(5)
    assert await q.lifecycle.heartbeat("w1", [job.id]) == {job.id}
    clock.advance(9)  # renewed at t=5: still valid at t=14
    assert (await q.lifecycle.requeue_expired()).requeued == []
    clock.advance(2)
    assert (await q.lifecycle.requeue_expired()).requeued == [job.id]
    assert (await q.reads.get_job(job.id)).status is JobStatus.QUEUED
    assert await q.lifecycle.heartbeat("w1", [job.id]) == set()  # the stale worker has lost it
    [again] = await q.lifecycle.claim("w2", model=MODEL, max_images=8)
    assert again.attempts == 2
    clock.advance(11)
    report = await q.lifecycle.requeue_expired()
    assert report.failed == [job.id]
    failed = await q.reads.get_job(job.id)
    assert failed.status is JobStatus.FAILED and not failed.charged and failed.failure is Failure.WORKER_LOST
    assert "refunded" in messages.failure(failed.failure, failed.error)
    assert (await q.reads.quota_info(1)).used_today == 0
    assert not await q.lifecycle.complete(job.id, "w2", result(job.id))


async def test_fail_retries_then_refunds(make_queue: Callable[..., Queue]) -> None:
    q = make_queue(queue={"max_attempts": 2})
    [job] = await q.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    await q.lifecycle.claim("w", model=MODEL, max_images=8)
    assert await q.lifecycle.fail(job.id, "w", Failure.ENGINE_ERROR, retry=True) is JobStatus.QUEUED
    await q.lifecycle.claim("w", model=MODEL, max_images=8)
    assert await q.lifecycle.fail(job.id, "w", Failure.ENGINE_ERROR, retry=True) is JobStatus.FAILED
    assert await q.lifecycle.fail(job.id, "w", Failure.ENGINE_ERROR, retry=True) is None
    info = await q.reads.quota_info(1)
    assert (info.used_today, info.running, info.queued) == (0, 0, 0)


async def test_deterministic_failure_refunds_at_once(queue: Queue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    outcome = await queue.lifecycle.fail(
        job.id, "w", Failure.ENGINE_FAILED, retry=False, detail="Out of memory."
    )
    assert outcome is JobStatus.FAILED
    failed = await queue.reads.get_job(job.id)
    assert failed.attempts == 1 and not failed.charged and failed.error.startswith("Out of memory.")
    assert failed.failure is Failure.ENGINE_FAILED


async def test_release_hands_jobs_back_without_an_attempt(queue: Queue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    assert await queue.lifecycle.release("w", [job.id]) == [job.id]
    back = await queue.reads.get_job(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 0 and back.position == 1


async def test_cancel_refunds_queued_and_running_jobs_and_a_running_one_stops(queue: Queue) -> None:
    running, waiting = await queue.admission.enqueue(1, [JobSpec("a"), JobSpec("b")], model=MODEL)
    [claimed] = await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    assert claimed.id == running.id
    assert await queue.admin.cancel(waiting.id, actor="cli:test") is CancelOutcome.REFUNDED
    assert await queue.admin.cancel(running.id, user_id=1) is CancelOutcome.STOPPING
    assert await stored_status(queue, running.id) is JobStatus.CANCELLED
    assert await queue.lifecycle.held("w", [running.id]) == set()
    assert not await queue.lifecycle.complete(running.id, "w", result(running.id))
    assert await queue.reads.get_images(running.id) == []
    assert await queue.admin.cancel(running.id) is CancelOutcome.ALREADY_FINISHED
    info = await queue.reads.quota_info(1)
    assert info.used_today == 0  # both refunded: the running one too (INTERFACE: "stops … and is refunded")


async def test_cancel_of_someone_elses_or_unknown_job(queue: Queue) -> None:
    import pytest

    from db.queue import JobNotFound

    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    with pytest.raises(JobNotFound):
        await queue.admin.cancel(job.id, user_id=2)
    with pytest.raises(JobNotFound):
        await queue.admin.cancel("nope")


async def test_ban_cancels_queued_jobs(queue: Queue) -> None:
    await queue.admission.enqueue(1, [JobSpec("a")] * 3, model=MODEL)
    assert await queue.admin.ban(1, reason="abuse", actor="t") == 3
    info = await queue.reads.quota_info(1)
    assert info.banned and info.ban_reason == "abuse" and info.queued == 0 and info.used_today == 0
    assert [j.failure for j in await queue.reads.history(user=1)] == [Failure.BANNED] * 3
    await queue.admin.unban(1, actor="t")
    assert not (await queue.reads.quota_info(1)).banned


async def test_quota_reset_forgets_today_and_override(queue: Queue) -> None:
    await queue.admin.quota_set(1, 3, actor="t")
    await queue.admission.enqueue(1, [JobSpec("a")] * 3, model=MODEL)
    assert (await queue.reads.quota_info(1)).left_today == 0
    info = await queue.admin.quota_reset(1, actor="t")
    assert (info.daily_limit, info.used_today) == (25, 0)


async def test_user_settings_round_trip(queue: Queue) -> None:
    from imaginebot.core.domain import UserDefaults

    assert await queue.admission.get_settings(5) == UserDefaults()
    await queue.admission.set_settings(5, UserDefaults(aspect_ratio="3:2", stylize=250))
    assert await queue.admission.get_settings(5) == UserDefaults(aspect_ratio="3:2", stylize=250)


async def test_history_and_user_jobs(queue: Queue) -> None:
    a = await queue.admission.enqueue(1, [JobSpec("a")] * 2, model=MODEL)
    b = await queue.admission.enqueue(2, [JobSpec("b")], model=MODEL)
    newest = await queue.reads.history(limit=2)
    assert [j.id for j in newest] == [b[0].id, a[1].id]
    assert [j.id for j in await queue.reads.history(user=1)] == [a[1].id, a[0].id]
    assert [j.id for j in await queue.reads.user_jobs(1)] == [a[0].id, a[1].id]
    assert await queue.reads.history(status=JobStatus.RUNNING) == []


async def test_stats(queue: Queue) -> None:
    jobs = await queue.admission.enqueue(1, [JobSpec("a")] * 3, model=MODEL)
    [c] = await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    await queue.lifecycle.complete(c.id, "w", result(c.id))
    await queue.admin.cancel(jobs[2].id)
    stats = await queue.reads.stats()
    assert stats.jobs_by_status == {"queued": 1, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 1}
    assert (stats.images, stats.charged_today) == (4, 2)


async def test_a_stale_worker_writes_no_progress_to_the_next_run(make_queue: Callable[..., Queue]) -> None:
    """Progress and previews are a compare-and-set on the lease: the worker that lost a job (its lease
    expired, another worker claimed it again) changes nothing of the new run."""
    clock = Clock()
    q = make_queue(clock=clock, queue={"lease_seconds": 10})
    [job] = await q.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    await q.lifecycle.claim("w1", model=MODEL, max_images=8)
    clock.advance(11)
    assert (await q.lifecycle.requeue_expired()).requeued == [job.id]
    await q.lifecycle.claim("w2", model=MODEL, max_images=8)
    assert await q.lifecycle.set_progress_many("w2", [ProgressUpdate(job.id, 10, b"new")]) == {job.id}
    assert await q.lifecycle.set_progress_many("w1", [ProgressUpdate(job.id, 90, b"stale")]) == set()
    assert (await q.reads.get_job(job.id)).progress == 10
    assert await q.reads.get_preview(job.id) == b"new"


@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_leases_are_judged_by_the_database_clock(make_queue: Callable[..., Queue]) -> None:
    """Workers on several hosts: a lease taken by a host whose clock runs an hour slow is not judged
    expired by a host with a correct clock (both use PostgreSQL's clock), and a host whose clock runs an
    hour fast does not steal a live lease."""
    slow, fast = Clock(), Clock()
    slow.advance(-3600)
    fast.advance(3600)
    behind = make_queue(clock=slow, lease_clock="database", queue={"lease_seconds": 30})
    ahead = make_queue(clock=fast, lease_clock="database", queue={"lease_seconds": 30})
    [job] = await behind.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    [claimed] = await behind.lifecycle.claim("slow-host", model=MODEL, max_images=8)
    assert claimed.id == job.id
    assert (await ahead.lifecycle.requeue_expired()).requeued == []
    assert await behind.lifecycle.heartbeat("slow-host", [job.id]) == {job.id}
    assert (await ahead.lifecycle.requeue_expired()).requeued == []
    assert (await ahead.reads.get_job(job.id)).status is JobStatus.RUNNING


async def test_queued_jobs_of_a_model_nobody_serves_fail_refunded(make_queue: Callable[..., Queue]) -> None:
    """A job (a button of a removed model, a worker host gone) that no worker can run fails, refunded,
    after `queue.unserved_after` seconds, and frees its user's queue slot; served models wait on."""
    clock = Clock()
    q = make_queue(clock=clock, queue={"unserved_after": 60, "max_attempts": 3}, quota={"max_queued": 1})
    await q.lifecycle.announce("w1", "served")
    [waits] = await q.admission.enqueue(1, [JobSpec("p")], model="served")
    [orphan] = await q.admission.enqueue(2, [JobSpec("p")], model="removed")
    clock.advance(30)
    assert await q.lifecycle.fail_unserved() == []  # not yet: a worker may be starting
    await q.lifecycle.announce("w1", "served")
    clock.advance(40)
    assert await q.lifecycle.fail_unserved() == [orphan.id]
    failed = await q.reads.get_job(orphan.id)
    assert failed.status is JobStatus.FAILED and not failed.charged and failed.failure is Failure.NO_WORKER
    told = messages.failure(failed.failure, failed.error)
    assert "No worker serves" in told and "removed" in told and "refunded" in told
    assert (await q.reads.get_job(waits.id)).status is JobStatus.QUEUED
    [again] = await q.admission.enqueue(2, [JobSpec("again")], model="served")  # the slot is free again

    # Once its last worker stops, a model's jobs fail too (after the same wait).
    await q.lifecycle.retire("w1")
    clock.advance(61)
    assert sorted(await q.lifecycle.fail_unserved()) == sorted([waits.id, again.id])
