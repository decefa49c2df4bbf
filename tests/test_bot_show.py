"""/show through the Discord stand-in: a finished job's result posted again, with buttons that work; who
may show what; and the jobs there is nothing to show of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from discord_standin import DiscordStandIn, InteractionHandle
from fixtures_bot import RunningBot, wait_until
from test_bot_commands import EPHEMERAL, private_reply

from db.records import JobRecord
from imaginebot.core.domain import JobKind, JobStatus

GRID_LABELS = ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "🔄"]


def labels(message: dict[str, Any]) -> list[str]:
    return [str(c.get("label") or (c.get("emoji") or {}).get("name", ""))
            for row in message["components"] for c in row["components"]]


async def finished_job(bot: RunningBot, user: dict[str, Any], prompt: str) -> JobRecord:
    await bot.imagine(user, prompt)
    await bot.wait_result(lambda m: prompt in m["content"], timeout=20)
    jobs = await bot.queue.reads.history(user=int(user["id"]), limit=1)
    assert jobs[0].status is JobStatus.SUCCEEDED
    return jobs[0]


async def shown(ix: InteractionHandle) -> dict[str, Any]:
    """The public result the /show interaction answered with."""
    ack = await ix.wait_ack(5)
    assert ack.elapsed < 3
    message = await ix.wait_message(lambda m: bool(m["attachments"]), 10)
    assert not message["flags"] & EPHEMERAL
    return message


async def jobs_of(bot: RunningBot, user: dict[str, Any]) -> list[JobRecord]:
    return await bot.queue.reads.history(user=int(user["id"]), limit=50)


async def test_show_posts_the_result_again_with_working_buttons(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(size=64))
    alice = standin.add_member("alice")
    job = await finished_job(bot, alice, "a quiet harbour at dawn")

    original = await bot.wait_result(lambda m: "a quiet harbour" in m["content"])
    message = await shown(await standin.slash(alice, "show", {"job_id": job.id}))
    assert "a quiet harbour at dawn" in message["content"] and f"seed {job.seed}" in message["content"]
    assert labels(message) == GRID_LABELS
    picture, first = message["attachments"][0], original["attachments"][0]
    assert picture["filename"] == f"show-{job.id}.png"
    assert (picture["width"], picture["height"]) == (first["width"], first["height"]) == (128, 128)
    assert await bot.queue.reads.history(user=int(alice["id"])) == [job]  # nothing new, nothing charged

    # U1 on the shown message upscales image 1 of the job, as on the original.
    press = await standin.press(alice, message, label="U1")
    await press.wait_ack(5)

    async def upscale() -> JobRecord | None:
        return next((j for j in await jobs_of(bot, alice) if j.kind is JobKind.UPSCALE), None)

    made = await wait_until(upscale, 10, "the upscale job")
    assert (made.parent_job_id, made.parent_index) == (job.id, 1)
    result = await bot.wait_result(lambda m: "Image #1" in m["content"], timeout=20)

    # An upscaled image shows with its edit buttons.
    upscaled = await wait_until(lambda: _succeeded(bot, made.id), 10, "the upscale to finish")
    message = await shown(await standin.slash(alice, "show", {"job_id": upscaled.id}))
    assert "Image #1" in message["content"] and "Vary (Subtle)" in labels(message)
    assert labels(message) == labels(standin.message(result["id"]))
    assert standin.violations == []


async def _succeeded(bot: RunningBot, job_id: str) -> JobRecord | None:
    job = await bot.queue.reads.get_job(job_id)
    return job if job.status is JobStatus.SUCCEEDED else None


async def test_only_the_owner_a_manager_or_an_operator_may_show_a_job(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    operator = standin.add_member("olga")
    beta = standin.add_guild("Beta")
    bot = await start_bot(fake_bot_engine(), admin={"user_ids": [int(operator["id"])]},
                          discord={"guild_ids": [int(standin.guild_id), int(beta["id"])]})
    alice, bob = standin.add_member("alice"), standin.add_member("bob")
    manager = standin.add_member("mona", manage_guild=True)
    job = await finished_job(bot, alice, "a red kite")
    before = len(standin.messages())

    text = await private_reply(await standin.slash(bob, "show", {"job_id": job.id}))
    assert "someone else's" in text and job.id in text
    assert len(standin.messages()) == before + 1  # bob's private answer only

    message = await shown(await standin.slash(manager, "show", {"job_id": job.id}))
    assert "a red kite" in message["content"] and labels(message) == GRID_LABELS
    message = await shown(await standin.slash(operator, "show", {"job_id": job.id}))
    assert "a red kite" in message["content"]

    # A manager of another server may not show this server's job there; its owner may (without buttons).
    standin.join(alice, beta["id"])
    standin.join(bob, beta["id"], manage_guild=True)
    text = await private_reply(await standin.slash(bob, "show", {"job_id": job.id}, guild_id=beta["id"]))
    assert "someone else's" in text
    ix = await standin.slash(alice, "show", {"job_id": job.id}, guild_id=beta["id"])
    message = await shown(ix)
    assert "a red kite" in message["content"] and "its buttons work only there" in message["content"]
    assert message["components"] == []
    assert standin.violations == []


async def test_nothing_to_show_is_said_privately(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), storage={"keep_days": 7})
    cara = standin.add_member("cara")
    text = await private_reply(await standin.slash(cara, "show", {"job_id": "no-such-job"}))
    assert "no job `no-such-job`" in text

    job = await finished_job(bot, cara, "a paper boat")
    report = await bot.queue.retention.prune(7, now=datetime.now(UTC) + timedelta(days=8))
    assert report.jobs == 1
    text = await private_reply(await standin.slash(cara, "show", {"job_id": job.id}))
    assert "deleted after 7 days" in text
    assert standin.violations == []


async def test_a_job_not_finished_is_not_shown(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(seconds=30, steps=30))
    dana = standin.add_member("dana")
    await bot.imagine(dana, "a slow glacier")
    (job,) = await jobs_of(bot, dana)
    text = await private_reply(await standin.slash(dana, "show", {"job_id": job.id}))
    assert "not finished" in text and job.id in text
    await private_reply(await standin.slash(dana, "cancel", {"job": job.id}))
    text = await private_reply(await standin.slash(dana, "show", {"job_id": job.id}))
    assert "cancelled without images" in text
    assert standin.violations == []
