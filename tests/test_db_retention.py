"""Retention (`queue.retention.prune`, `imaginebot db prune`, the bot's daily run), SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from fake_engine import solid_png
from fixtures_db import audit_actions, poll_until, settings_for
from sqlalchemy import select, update

from bot.retention import RetentionLoop
from db import retention
from db.models import AdminAudit, Job, JobImage, JobInput, JobPreview
from db.queue import DeliveryTarget, JobRecord, PruneReport, Queue, SourceFile
from imaginebot.app.cli import main
from imaginebot.core.domain import Failure, GenResult, JobKind, JobSpec, JobStatus

MODEL = "tiny"
SPEC = JobSpec("a red fox in snow")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PNG = solid_png(8, 8, (200, 10, 10))
LIMITS = {"quota": {"daily_jobs": 1000, "max_queued": 100, "max_running": 100}}


class Clock:
    """The queue's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def q(make_queue: Callable[..., Queue], clock: Clock) -> Queue:
    return make_queue(clock=clock, **LIMITS)


async def succeeded(q: Queue, user: int = 1, **kw) -> JobRecord:
    [job] = await q.admission.enqueue(user, [SPEC], model=MODEL, **kw)
    [claimed] = await q.lifecycle.claim(f"w{user}", model=MODEL, max_images=8)
    assert claimed.id == job.id
    assert await q.lifecycle.complete(job.id, f"w{user}", GenResult(job.id, [PNG] * 4, 8, 8))
    return job


async def failed_with_input(q: Queue, user: int = 2) -> JobRecord:
    [job] = await q.admission.enqueue(
        user, [SPEC], kind=JobKind.VARIATION, model=MODEL, source=SourceFile(PNG, 8, 8)
    )
    [claimed] = await q.lifecycle.claim(f"w{user}", model=MODEL, max_images=8)
    assert claimed.id == job.id
    assert await q.lifecycle.fail(job.id, f"w{user}", Failure.ENGINE_FAILED, retry=False) is JobStatus.FAILED
    return job


async def counts(q: Queue, job_id: str) -> tuple[int, int]:
    """(images, inputs) stored for the job."""
    async with q.database.read() as conn:
        images = (await conn.execute(select(JobImage.index).where(JobImage.job_id == job_id))).all()
        inputs = (await conn.execute(select(JobInput.position).where(JobInput.job_id == job_id))).all()
    return len(images), len(inputs)


async def add_preview(q: Queue, job_id: str) -> None:
    async with q.database.write() as conn:
        await conn.execute(
            q.database.insert(JobPreview).values(job_id=job_id, jpeg=b"jpeg", updated_at=q.database.now())
        )


async def previews(q: Queue) -> set[str]:
    async with q.database.read() as conn:
        return set((await conn.execute(select(JobPreview.job_id))).scalars())


async def test_old_finished_jobs_lose_their_images_and_keep_their_history(q: Queue, clock: Clock) -> None:
    old = await succeeded(q, 1)
    old_failed = await failed_with_input(q, 2)
    [running] = await q.admission.enqueue(3, [SPEC], model=MODEL)
    assert [j.id for j in await q.lifecycle.claim("w3", model=MODEL, max_images=8)] == [running.id]
    await add_preview(q, running.id)
    [queued] = await q.admission.enqueue(  # of a model no worker here claims
        4, [SPEC], kind=JobKind.VARIATION, model="other", source=SourceFile(PNG, 8, 8)
    )
    clock.now = T0 + timedelta(days=20)
    recent = await succeeded(q, 5)
    clock.now = T0 + timedelta(days=31)

    report = await q.retention.prune(30, actor="cli:op")

    assert report == PruneReport(jobs=2, images=4, inputs=1, bytes=5 * len(PNG), tokens=0, previews=0)
    for job, status in ((old, JobStatus.SUCCEEDED), (old_failed, JobStatus.FAILED)):
        record = await q.reads.get_job(job.id)
        assert record.status is status and record.finished_at is not None
        assert await counts(q, job.id) == (0, 0)
    assert await q.reads.get_images(old.id) == []
    assert await counts(q, recent.id) == (4, 0)
    assert await counts(q, queued.id) == (0, 1)  # queued for 31 days: untouched
    assert (await q.reads.get_job(running.id)).status is JobStatus.RUNNING
    assert await previews(q) == {running.id}
    assert await q.retention.images_pruned(old.id)
    assert not await q.retention.images_pruned(recent.id)
    assert not await q.retention.images_pruned(old_failed.id)

    assert await q.retention.prune(30, actor="cli:op") == PruneReport()  # idempotent
    assert await audit_actions(q) == ["prune"]
    async with q.database.read() as conn:
        row = (await conn.execute(select(AdminAudit))).one()
    assert row.actor == "cli:op" and row.target == "storage" and row.at == clock.now
    assert row.reason == f"keep_days=30 jobs=2 images=4 inputs=1 bytes={5 * len(PNG)} tokens=0 previews=0"


async def test_keep_days_zero_keeps_images_for_ever(q: Queue, clock: Clock) -> None:
    job = await succeeded(q)
    clock.now = T0 + timedelta(days=3650)
    assert await q.retention.prune(0) == PruneReport()
    assert await counts(q, job.id) == (4, 0)
    assert await audit_actions(q) == []


async def test_the_cutoff_is_keep_days_before_now(q: Queue, clock: Clock) -> None:
    job = await succeeded(q)
    assert await q.retention.prune(30, now=T0 + timedelta(days=29, hours=23)) == PruneReport()
    assert await counts(q, job.id) == (4, 0)
    clock.now = T0 + timedelta(days=30, seconds=1)
    assert (await q.retention.prune(30)).jobs == 1
    with pytest.raises(ValueError, match="keep_days"):
        await q.retention.prune(-1)


async def test_expired_tokens_are_erased_whatever_keep_days(q: Queue, clock: Clock) -> None:
    def target(expires: datetime) -> DeliveryTarget:
        return DeliveryTarget(1, 2, 3, "secret-token", 4, expires)

    expired = await succeeded(q, 1, delivery=target(T0 + timedelta(minutes=15)))
    soon = T0 + timedelta(minutes=15)
    [queued] = await q.admission.enqueue(2, [SPEC], model="other", delivery=target(soon))
    valid = await succeeded(q, 3, delivery=target(T0 + timedelta(days=2)))
    clock.now = T0 + timedelta(days=1)

    assert await q.retention.prune(0, actor="bot") == PruneReport(tokens=2)
    tokens = {j: (await q.reads.get_job(j)).interaction_token for j in (expired.id, queued.id, valid.id)}
    assert tokens == {expired.id: None, queued.id: None, valid.id: "secret-token"}
    assert await counts(q, expired.id) == (4, 0)
    assert await q.retention.prune(0, actor="bot") == PruneReport()
    assert await audit_actions(q) == ["prune"]


async def test_leftover_previews_of_finished_jobs_go(q: Queue) -> None:
    job = await succeeded(q)
    await add_preview(q, job.id)
    assert await q.retention.prune(30) == PruneReport(previews=1)
    assert await previews(q) == set()


async def test_deletes_run_in_batches(
    q: Queue, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    jobs = [await succeeded(q, user) for user in range(1, 6)]
    clock.now = T0 + timedelta(days=100)
    async with q.database.write() as conn:
        await conn.execute(update(Job).values(interaction_token="t", token_expires_at=T0))
    report = await q.retention.prune(30)
    assert report == PruneReport(jobs=5, images=20, inputs=0, bytes=20 * len(PNG), tokens=5)
    assert [await counts(q, j.id) for j in jobs] == [(0, 0)] * 5


async def test_cli_prune(cli, queue: Queue) -> None:
    job = await succeeded(queue)
    kept = await succeeded(queue, 2)
    now = queue.database.now()
    async with queue.database.write() as conn:
        await conn.execute(
            update(Job).where(Job.id == job.id).values(finished_at=now - timedelta(days=31))
        )
        await conn.execute(
            update(Job)
            .where(Job.id == kept.id)
            .values(interaction_token="secret", token_expires_at=now - timedelta(minutes=1))
        )

    code, out, err = await cli("db", "prune")
    assert (code, err) == (0, "")
    assert out == "pruned 1 job(s): 4 image(s), 0.0 MB; erased 1 expired interaction token(s)\n"
    assert await counts(queue, job.id) == (0, 0) and await counts(queue, kept.id) == (4, 0)
    assert (await queue.reads.get_job(job.id)).status is JobStatus.SUCCEEDED
    assert (await queue.reads.get_job(kept.id)).interaction_token is None
    assert await audit_actions(queue) == ["prune"]

    assert await cli("db", "prune") == (0, "nothing to prune (images are kept 30 days)\n", "")
    assert await cli("db", "prune", "--days", "0") == (0, "nothing to prune (images are kept for ever)\n", "")
    code, out, _ = await cli("db", "prune", "--days", "1")
    assert code == 0 and out == "nothing to prune (images are kept 1 day)\n"


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("-1", "argument --days: -1 is out of range: use 0 to 36500"),
        ("99999999", "argument --days: 99999999 is out of range: use 0 to 36500"),
        ("ten", "argument --days: 'ten' is not a whole number"),
    ],
)
def test_cli_prune_days_out_of_range(days: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["db", "prune", "--days", days])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and expected in err and "Traceback" not in err


async def test_the_bots_daily_run(
    q: Queue, clock: Clock, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    job = await succeeded(q)
    clock.now = T0 + timedelta(days=8)
    bot = SimpleNamespace(queue=q, settings=settings_for(db_url, storage={"keep_days": 7}))
    loop = RetentionLoop(bot)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="bot.retention"):
        assert await loop.run_once() == PruneReport(jobs=1, images=4, bytes=4 * len(PNG))
    assert "retention (keep_days=7): 1 job(s) lost 4 image(s)" in caplog.text
    assert await counts(q, job.id) == (0, 0)
    assert await audit_actions(q) == ["prune"]
    async with q.database.read() as conn:
        assert (await conn.execute(select(AdminAudit.actor))).scalar_one() == "bot"

    # Started with the bot, stopped with it; a failing run is a warning, and the loop carries on.
    calls: list[int] = []

    async def broken(keep_days: int, **_: object) -> PruneReport:
        calls.append(keep_days)
        raise OSError("database is gone")

    loop.retention = SimpleNamespace(prune=broken)  # type: ignore[assignment]
    loop.first_after, loop.every = 0.0, 0.01
    with caplog.at_level(logging.WARNING, logger="bot.retention"):
        await loop.cog_load()

        async def three_runs() -> bool:
            return len(calls) >= 3

        await poll_until(three_runs, within=10, what="three retention runs")
        await loop.cog_unload()
    assert loop._task is None and calls[:3] == [7, 7, 7]
    assert "retention run failed, next try in 0 h: database is gone" in caplog.text
