"""Enqueue, quotas, fairness and batching, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fake_engine import solid_png
from fixtures_db import audit_actions

from bot import messages
from db.queue import (
    Banned,
    JobRecord,
    Queue,
    QueueFull,
    QueuePaused,
    QuotaExceeded,
    SourceImageMissing,
)
from db.records import ProgressUpdate
from imaginebot.core.domain import SEED_MAX, GenResult, ImageRef, JobKind, JobSpec, JobStatus

SPEC = JobSpec("a red fox in snow")
MODEL = "tiny"


async def enqueue(q: Queue, user: int, n: int = 1, spec: JobSpec = SPEC, **kw) -> list[JobRecord]:
    return await q.admission.enqueue(user, [spec] * n, model=MODEL, **kw)


async def finish(q: Queue, worker: str, jobs) -> None:
    results = [
        GenResult(j.id, [solid_png(8, 8, (k, 0, 0)) for k in range(j.image_count)], 8, 8) for j in jobs
    ]
    assert await q.lifecycle.complete_many(worker, results) == {j.id for j in jobs}


async def test_enqueue_draws_seeds_and_keeps_given_ones(queue: Queue) -> None:
    jobs = await queue.admission.enqueue(1, [SPEC, JobSpec("x", seed=42)], model=MODEL)
    assert 0 <= jobs[0].seed <= SEED_MAX and jobs[0].spec.seed == jobs[0].seed
    assert jobs[1].seed == 42
    stored = await queue.reads.get_job(jobs[0].id)
    assert stored.spec == jobs[0].spec and stored.status is JobStatus.QUEUED and stored.charged
    assert len(stored.id) == 12 and stored.position == 1


async def test_racing_enqueues_admit_exactly_the_quota_left(make_queue: Callable[..., Queue]) -> None:
    settings = {"quota": {"daily_jobs": 25, "max_queued": 100}}
    first = make_queue(**settings)
    await enqueue(first, 7, 15)  # 10 left today
    queues = [make_queue(**settings) for _ in range(5)]  # separate engines, pools and connections

    async def attempt(i: int) -> str:
        try:
            await enqueue(queues[i % len(queues)], 7)
            return "ok"
        except QuotaExceeded:
            return "refused"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert outcomes.count("ok") == 10
    info = await first.reads.quota_info(7)
    assert (info.used_today, info.left_today, info.queued) == (25, 0, 25)


async def test_racing_enqueues_from_several_processes(db_url: str, tmp_path) -> None:
    script = tmp_path / "race.py"
    script.write_text(f"""
import asyncio, sys
sys.path.insert(0, {str(tmp_path)!r})
from db.policy import QueuePolicy
from db.queue import Queue, QuotaExceeded
from imaginebot.core.config import Settings
from imaginebot.core.domain import JobSpec

async def main():
    s = Settings.model_validate({{"database": {{"url": {db_url!r}}},
                                 "quota": {{"daily_jobs": 10, "max_queued": 100}}}})
    q = Queue.open(s.database, QueuePolicy.from_settings(s.quota, s.queue))
    async def one():
        try:
            await q.admission.enqueue(9, [JobSpec("p")], model="tiny")
            return 1
        except QuotaExceeded:
            return 0
    print(sum(await asyncio.gather(*(one() for _ in range(10)))))
    await q.close()
asyncio.run(main())
""")
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, str(script), stdout=asyncio.subprocess.PIPE)
        for _ in range(4)
    ]
    outs = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(int(o[0]) for o in outs) == 10


async def test_quota_message_says_when_it_resets(make_queue: Callable[..., Queue]) -> None:
    now = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    q = make_queue(clock=lambda: now, quota={"daily_jobs": 2})
    await enqueue(q, 1, 2)
    with pytest.raises(QuotaExceeded) as err:
        await enqueue(q, 1)
    assert (err.value.used, err.value.limit) == (2, 2)
    assert err.value.resets_at == datetime(2026, 11, 25, tzinfo=UTC)
    assert "2026-11-25 00:00 UTC" in messages.refusal(err.value)


async def test_quota_is_per_utc_day(make_queue: Callable[..., Queue]) -> None:
    now = [datetime(2026, 11, 24, 23, 59, tzinfo=UTC)]
    q = make_queue(clock=lambda: now[0], quota={"daily_jobs": 1})
    await enqueue(q, 1)
    with pytest.raises(QuotaExceeded):
        await enqueue(q, 1)
    now[0] += timedelta(minutes=2)
    await enqueue(q, 1)


async def test_a_refused_request_inserts_nothing(make_queue: Callable[..., Queue]) -> None:
    q = make_queue(quota={"daily_jobs": 5, "max_queued": 3})
    await enqueue(q, 1, 2)
    with pytest.raises(QueueFull) as full:
        await enqueue(q, 1, 2)  # would make 4 waiting
    assert (full.value.queued, full.value.limit) == (2, 3)
    with pytest.raises(QuotaExceeded):
        await enqueue(q, 2, 6)
    assert (await q.reads.quota_info(1)).queued == 2
    assert (await q.reads.quota_info(2)).used_today == 0
    assert len(await q.reads.history()) == 2


async def test_user_override_ban_and_pause_refuse_with_messages(queue: Queue) -> None:
    await queue.admin.quota_set(1, 1, actor="test")
    await enqueue(queue, 1)
    with pytest.raises(QuotaExceeded):
        await enqueue(queue, 1)
    await queue.admin.ban(2, reason="spam", actor="test")
    with pytest.raises(Banned) as banned:
        await enqueue(queue, 2)
    assert "spam" in messages.refusal(banned.value)
    await queue.admin.pause(actor="test")
    with pytest.raises(QueuePaused) as paused:
        await enqueue(queue, 3)
    assert "paused" in messages.refusal(paused.value)
    await queue.admin.resume(actor="test")
    await enqueue(queue, 3)
    actions = await audit_actions(queue)
    assert actions == ["resume", "pause", "ban", "quota_set"]


async def test_upscale_needs_an_existing_parent_image(queue: Queue) -> None:
    [parent] = await enqueue(queue, 1)
    with pytest.raises(SourceImageMissing):
        await queue.admission.enqueue(
            1, [SPEC], kind=JobKind.UPSCALE, model=MODEL, parent=ImageRef(parent.id, 2)
        )
    claimed = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    await finish(queue, "w", claimed)
    [up] = await queue.admission.enqueue(
        2, [SPEC], kind=JobKind.UPSCALE, model=MODEL, parent=ImageRef(parent.id, 2)
    )
    assert up.strength is not None and up.image_count == 1
    [job] = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    assert job.id == up.id and job.source_png == (await queue.reads.get_image(parent.id, 2)).png
    assert job.request().source_png == job.source_png


async def test_fairness_a_late_user_starts_within_two_claims(make_queue: Callable[..., Queue]) -> None:
    q = make_queue(quota={"max_queued": 50, "max_running": 20})
    await enqueue(q, 1, 20)
    [b1, _] = await enqueue(q, 2, 2)
    started = []
    for _ in range(2):
        [job] = await q.lifecycle.claim("w", model=MODEL, max_images=4)  # one 4-image job a claim
        started.append(job.user_id)
        await finish(q, "w", [job])
    assert 2 in started
    assert (await q.reads.get_job(b1.id)).status is JobStatus.SUCCEEDED


async def test_fair_batch_interleaves_users(make_queue: Callable[..., Queue]) -> None:
    q = make_queue(quota={"max_queued": 50, "max_running": 20})
    a = await enqueue(q, 1, 6)
    b = await enqueue(q, 2, 2)
    assert [await q.reads.position(j.id) for j in b] == [2, 4]
    batch = await q.lifecycle.claim("w", model=MODEL, max_images=16)  # four jobs
    assert sorted(j.id for j in batch) == sorted([a[0].id, a[1].id, b[0].id, b[1].id])


async def test_max_running_per_user(make_queue: Callable[..., Queue]) -> None:
    q = make_queue(quota={"max_running": 2, "max_queued": 10})
    await enqueue(q, 1, 5)
    first = await q.lifecycle.claim("w", model=MODEL, max_images=64)
    assert len(first) == 2
    assert await q.lifecycle.claim("w", model=MODEL, max_images=64) == []
    await finish(q, "w", first[:1])
    assert len(await q.lifecycle.claim("w", model=MODEL, max_images=64)) == 1
    assert (await q.reads.quota_info(1)).running == 2


async def test_batches_hold_only_compatible_jobs_up_to_max_images(make_queue: Callable[..., Queue]) -> None:
    q = make_queue(quota={"max_running": 10, "max_queued": 20})
    wide = JobSpec("wide", width=768, height=512)
    await enqueue(q, 1, 1)
    await enqueue(q, 2, 1, wide)
    await enqueue(q, 3, 3)
    await enqueue(q, 4, 1, JobSpec("other steps", steps=20))
    await q.admission.enqueue(5, [SPEC], model="another-model")
    first = await q.lifecycle.claim("w", model=MODEL, max_images=8)  # the head (user 1) + one more 512² job
    assert [j.user_id for j in first] == [1, 3]
    second = await q.lifecycle.claim(
        "w", model=MODEL, max_images=8
    )  # head is user 2's wide job; nothing else fits
    assert [(j.user_id, j.spec.width) for j in second] == [(2, 768)]
    third = await q.lifecycle.claim(
        "w", model=MODEL, max_images=3
    )  # a lone job larger than max_images still runs
    assert len(third) == 1
    rest = await q.lifecycle.claim("w", model=MODEL, max_images=64)
    keys = {(j.spec.width, j.spec.steps) for j in rest}
    assert len(keys) == 1
    assert all(j.user_id != 5 for j in first + second + third + rest)


async def test_a_paused_queue_refuses_new_jobs_but_runs_the_queued_ones(queue: Queue) -> None:
    """The operators' pause does what a guild's does, everywhere: new submissions are refused, jobs
    already queued still run."""
    await enqueue(queue, 1)
    await queue.admin.pause(actor="t")
    with pytest.raises(QueuePaused):
        await enqueue(queue, 2)
    assert len(await queue.lifecycle.claim("w", model=MODEL, max_images=8)) == 1
    await queue.admin.resume(actor="t")
    await enqueue(queue, 2)


async def test_batch_key_is_stored_per_job(queue: Queue) -> None:
    [job] = await enqueue(queue, 1)
    from sqlalchemy import select

    from db.models import Job

    async with queue.database.read() as conn:
        key = (await conn.execute(select(Job.batch_key).where(Job.id == job.id))).scalar_one()
    assert json.loads(key)[0] == "txt2img"
    assert key == '["txt2img", false, 512, 512, 30, 30, 7.0, false, null]'  # as rows stored before BatchKey


async def test_concurrent_claims_never_share_a_job(make_queue: Callable[..., Queue]) -> None:
    sections = {"quota": {"max_queued": 100, "max_running": 100}}
    producer = make_queue(**sections)
    for user in range(1, 11):
        await enqueue(producer, user, 6)
    workers = [make_queue(**sections) for _ in range(4)]
    claimed: list[str] = []

    async def work(i: int) -> None:
        q = workers[i]
        while batch := await q.lifecycle.claim(f"w{i}", model=MODEL, max_images=8):
            claimed.extend(j.id for j in batch)
            await finish(q, f"w{i}", batch)

    await asyncio.gather(*(work(i) for i in range(4)))
    assert len(claimed) == 60 and len(set(claimed)) == 60
    assert (await producer.reads.stats()).jobs_by_status["succeeded"] == 60


async def test_a_spec_naming_its_model_is_queued_for_that_model(queue: Queue) -> None:
    """`--model`/`--niji` decide the job's model (the one a worker must serve); the caller's model is the
    default for the rest. One request stays all or nothing."""
    import dataclasses

    jobs = await queue.admission.enqueue(3, [SPEC, dataclasses.replace(SPEC, model="anime")], model=MODEL)
    assert [j.model for j in jobs] == [MODEL, "anime"]
    assert [j.id for j in await queue.lifecycle.claim("w", model="anime", max_images=8)] == [jobs[1].id]


async def test_progress_of_reads_status_and_progress_in_one_query(queue: Queue) -> None:
    a, b = await queue.admission.enqueue(1, [JobSpec("a"), JobSpec("b")], model="tiny")
    [claimed] = await queue.lifecycle.claim("w", model="tiny", max_images=4)
    await queue.lifecycle.set_progress_many("w", [ProgressUpdate(claimed.id, 40, None)])
    other = b.id if claimed.id == a.id else a.id
    seen = await queue.reads.progress_of([a.id, b.id, "no-such-job"])
    assert seen == {claimed.id: (JobStatus.RUNNING, 40), other: (JobStatus.QUEUED, 0)}
