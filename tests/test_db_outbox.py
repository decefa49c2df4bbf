"""The delivery outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from db.queue import DeliveryTarget, Queue
from imaginebot.core.domain import GenResult, JobSpec

MODEL = "tiny"
TARGET = DeliveryTarget(
    guild_id=10,
    channel_id=20,
    interaction_id=30,
    interaction_token="secret-token",
    application_id=40,
    token_expires_at=datetime(2026, 11, 24, 12, 15, tzinfo=UTC),
)


async def test_finished_jobs_wait_in_the_outbox_until_delivered(queue: Queue) -> None:
    [job, other] = await queue.admission.enqueue(
        1, [JobSpec("a"), JobSpec("b")], model=MODEL, delivery=TARGET
    )
    await queue.admission.enqueue(1, [JobSpec("no target")], model=MODEL)
    await queue.outbox.set_progress_message(job.id, 555)
    assert await queue.outbox.undelivered() == []
    claimed = await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    [running] = await queue.outbox.running_with_delivery()
    assert running.id == claimed[0].id and running.progress_message_id == 555
    assert running.delivery == TARGET
    await queue.lifecycle.complete(job.id, "w", GenResult(job.id, [b"png"] * 4, 8, 8))
    await queue.admin.cancel(other.id)
    pending = await queue.outbox.undelivered()
    assert [j.id for j in pending] == [job.id, other.id]
    assert await queue.outbox.mark_delivered(job.id, 777)
    assert not await queue.outbox.mark_delivered(job.id, 778)
    assert [j.id for j in await queue.outbox.undelivered()] == [other.id]
    delivered = await queue.reads.get_job(job.id)
    assert delivered.result_message_id == 777 and delivered.delivered_at is not None


async def test_token_is_not_in_reprs(queue: Queue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL, delivery=TARGET)
    assert "secret-token" not in repr(job) and "secret-token" not in repr(TARGET)
    assert (await queue.reads.get_job(job.id)).interaction_token == "secret-token"


async def test_concurrent_markers_deliver_exactly_once(make_queue: Callable[..., Queue]) -> None:
    queues = [make_queue() for _ in range(4)]
    jobs = await queues[0].admission.enqueue(1, [JobSpec("a")] * 5, model=MODEL, delivery=TARGET)
    for job in jobs:
        await queues[0].admin.cancel(job.id)
    wins = await asyncio.gather(
        *(queues[i % 4].outbox.mark_delivered(job.id, i) for job in jobs for i in range(8))
    )
    assert sum(wins) == len(jobs)
    assert await queues[0].outbox.undelivered() == []


async def test_expired_interaction_tokens_are_erased(queue: Queue) -> None:
    """Interaction tokens are credentials: once Discord's 15 minutes are over they are forgotten."""
    now = datetime.now(UTC)
    expired = DeliveryTarget(1, 2, 3, "old-token", 4, now - timedelta(seconds=1))
    live = DeliveryTarget(1, 2, 5, "live-token", 4, now + timedelta(minutes=10))
    [old] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL, delivery=expired)
    [new] = await queue.admission.enqueue(1, [JobSpec("b")], model=MODEL, delivery=live)
    assert await queue.outbox.erase_expired_tokens() == 1
    assert (await queue.reads.get_job(old.id)).interaction_token is None
    assert (await queue.reads.get_job(new.id)).interaction_token == "live-token"
    assert await queue.outbox.erase_expired_tokens() == 0
