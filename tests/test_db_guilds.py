"""Guild moderators act on their own guild only: its pause, its bans, its lower daily limits, its jobs.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from db.queue import Banned, DeliveryTarget, JobNotFound, JobRecord, Queue, QueuePaused, QuotaExceeded
from imaginebot.core.domain import JobSpec, JobStatus

MODEL = "tiny"
A, B = 1001, 2002  # two guilds
MOD = "discord:77"


def target(guild: int | None) -> DeliveryTarget:
    return DeliveryTarget(guild, channel_id=(guild or 5) * 10)


async def enqueue(q: Queue, user: int, guild: int | None, n: int = 1) -> list[JobRecord]:
    return await q.admission.enqueue(user, [JobSpec("a fox")] * n, model=MODEL, delivery=target(guild))


async def test_a_guild_pause_refuses_only_that_guild_and_its_queued_jobs_still_run(queue: Queue) -> None:
    [waiting] = await enqueue(queue, 1, A)
    assert await queue.admin.pause(actor=MOD, guild_id=A)
    assert not await queue.admin.pause(actor=MOD, guild_id=A)  # already paused
    assert await queue.reads.is_paused(A) and not await queue.reads.is_paused(B)
    assert not await queue.reads.is_paused()
    with pytest.raises(QueuePaused) as refused:
        await enqueue(queue, 1, A)
    assert refused.value.guild_id == A
    await enqueue(queue, 1, B)
    await enqueue(queue, 1, None)
    claimed = await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    assert [j.id for j in claimed] == [waiting.id]
    assert await queue.admin.resume(actor=MOD, guild_id=A)
    await enqueue(queue, 1, A)


async def test_a_guild_ban_bars_that_guild_only_and_cancels_only_its_jobs(queue: Queue) -> None:
    [in_a] = await enqueue(queue, 5, A)
    [in_b] = await enqueue(queue, 5, B)
    assert await queue.admin.ban(5, reason="spam", actor=MOD, guild_id=A) == 1
    assert (await queue.reads.get_job(in_a.id)).status is JobStatus.CANCELLED
    assert (await queue.reads.get_job(in_b.id)).status is JobStatus.QUEUED
    with pytest.raises(Banned) as refused:
        await enqueue(queue, 5, A)
    assert (refused.value.guild_id, refused.value.reason) == (A, "spam")
    await enqueue(queue, 5, B)
    info = await queue.reads.quota_show(5, guild_id=A)
    assert info.guild is not None and info.guild.banned and not info.banned

    # A global ban outlives a guild's unban; only operators lift it.
    await queue.admin.ban(5, actor="cli:root")
    await queue.admin.unban(5, actor=MOD, guild_id=A)
    with pytest.raises(Banned) as still:
        await enqueue(queue, 5, A)
    assert still.value.guild_id is None
    await queue.admin.unban(5, actor="cli:root")
    await enqueue(queue, 5, A)


async def test_a_moderator_may_ban_someone_who_never_used_the_bot(queue: Queue) -> None:
    assert await queue.admin.ban(404, actor=MOD, guild_id=A) == 0
    with pytest.raises(Banned):
        await enqueue(queue, 404, A)
    await enqueue(queue, 404, B)


async def test_a_guild_limit_counts_that_guilds_jobs_and_only_lowers_the_global_one(queue: Queue) -> None:
    info = await queue.admin.quota_set(9, 2, actor=MOD, guild_id=A)
    assert info.guild is not None and (info.daily_limit, info.guild.daily_limit, info.effective_limit) == (
        25, 2, 2,
    )  # fmt: skip
    await enqueue(queue, 9, B, n=3)  # another guild's jobs do not count against A's limit
    await enqueue(queue, 9, A, n=2)
    with pytest.raises(QuotaExceeded) as refused:
        await enqueue(queue, 9, A)
    assert (refused.value.guild_id, refused.value.used, refused.value.limit) == (A, 2, 2)
    shown = await queue.reads.quota_show(9, guild_id=A)
    assert shown.guild is not None and (shown.used_today, shown.guild.used_today) == (5, 2)

    # A guild limit above the global one changes nothing: the global limit counts every guild's jobs.
    await queue.admin.quota_set(9, 100, actor=MOD, guild_id=B)
    await queue.admin.quota_set(9, 6, actor="cli:root")
    await enqueue(queue, 9, B)
    with pytest.raises(QuotaExceeded) as global_refusal:
        await enqueue(queue, 9, B)
    assert global_refusal.value.guild_id is None and global_refusal.value.limit == 6
    assert (await queue.reads.quota_show(9, guild_id=B)).effective_limit == 6

    # Resetting A's limit undoes only A's override; today's usage stays.
    after = await queue.admin.quota_reset(9, actor=MOD, guild_id=A)
    assert after.guild is not None and after.guild.daily_limit is None and after.used_today == 6


async def test_racing_requests_in_a_limited_guild_admit_exactly_the_limit(queue: Queue) -> None:
    await queue.admin.quota_set(3, 4, actor=MOD, guild_id=A)
    outcomes = await asyncio.gather(*(enqueue(queue, 3, A) for _ in range(12)), return_exceptions=True)
    assert sum(isinstance(o, list) for o in outcomes) == 4
    assert all(isinstance(o, list | QuotaExceeded) for o in outcomes)


async def test_moderators_see_and_cancel_only_their_guilds_jobs(queue: Queue) -> None:
    [a] = await enqueue(queue, 1, A)
    [b] = await enqueue(queue, 2, B)
    [dm] = await enqueue(queue, 3, None)
    assert [j.id for j in await queue.reads.queue_list(A)] == [a.id]
    assert {j.id for j in await queue.reads.queue_list()} == {a.id, b.id, dm.id}
    with pytest.raises(JobNotFound):
        await queue.admin.cancel(b.id, actor=MOD, guild_id=A)
    with pytest.raises(JobNotFound):
        await queue.admin.cancel(dm.id, actor=MOD, guild_id=A)
    assert (await queue.reads.get_job(b.id)).status is JobStatus.QUEUED
    await queue.admin.cancel(a.id, actor=MOD, guild_id=A)
    assert (await queue.reads.get_job(a.id)).status is JobStatus.CANCELLED
