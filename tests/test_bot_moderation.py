"""Moderation through the Discord stand-in, on SQLite and PostgreSQL: /cancel and the Cancel button
(owner, admin, anyone else), banned words with strikes, timeouts and a ban, /admin words and /admin audit.

The fake engine (no torch) generates: these tests are about the Discord surface and the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from discord_standin import DiscordStandIn
from fixtures_bot import RunningBot, wait_until
from sqlalchemy import update
from test_bot_commands import private_reply

from db.models import Strike
from db.records import JobRecord
from imaginebot.core.domain import JobStatus


async def _jobs(bot: RunningBot, user: dict[str, Any]) -> list[JobRecord]:
    return await bot.queue.reads.history(user=int(user["id"]))


async def _status(bot: RunningBot, job_id: str) -> JobStatus:
    return (await bot.queue.reads.get_job(job_id)).status


def _has_cancel(message: dict[str, Any], job_id: str) -> bool:
    ids = [c.get("custom_id") for row in message["components"] for c in row["components"]]
    return f"ib:cancel:{job_id}" in ids


async def _progress_message(standin: DiscordStandIn, job_id: str) -> dict[str, Any]:
    """The job's progress message, with its Cancel button."""
    return await standin.wait_for_message(lambda m: _has_cancel(m, job_id), 10)


async def _ended(standin: DiscordStandIn, message: dict[str, Any]) -> dict[str, Any]:
    """The progress message once delivery has said "cancelled" on it and removed the button."""
    return await standin.wait_for_message(
        lambda m: m["id"] == message["id"] and "cancelled" in m["content"] and not m["components"], 10
    )


async def test_cancel_command_and_button(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    op = standin.add_member("op")
    bot = await start_bot(
        fake_bot_engine(seconds=60, steps=30), queue={"max_batch": 4}, admin={"user_ids": [int(op["id"])]}
    )
    erin, frank, mona = (
        standin.add_member("erin"),
        standin.add_member("frank"),
        standin.add_member("mona", manage_guild=True),
    )
    await bot.imagine(erin, "first")
    await bot.imagine(erin, "second")

    async def running_then_queued() -> list[JobRecord] | None:
        jobs = sorted(await _jobs(bot, erin), key=lambda j: j.created_at)
        return jobs if [j.status for j in jobs] == [JobStatus.RUNNING, JobStatus.QUEUED] else None

    running, waiting = await wait_until(running_then_queued, 15, "one job running, one queued")
    queued_msg = await _progress_message(standin, waiting.id)
    assert [c["label"] for c in queued_msg["components"][0]["components"]] == ["Cancel"]

    # Someone else's job: refused, by command and by button, and nothing changes.
    text = await private_reply(await standin.slash(frank, "cancel", {"job": waiting.id}))
    assert "only cancel your own jobs" in text
    text = await private_reply(await standin.press(frank, queued_msg, label="Cancel"))
    assert "only cancel your own jobs" in text
    assert await _status(bot, waiting.id) is JobStatus.QUEUED
    text = await private_reply(await standin.slash(frank, "cancel"))
    assert "no queued or running job" in text
    text = await private_reply(await standin.slash(frank, "cancel", {"job": "nope"}))
    assert "no job with id `nope`" in text

    # The owner cancels the queued job: refunded at once; the progress message says so, without a button.
    text = await private_reply(await standin.slash(erin, "cancel", {"job": waiting.id}))
    assert "cancelled before it started" in text and "refunded" in text
    assert await _status(bot, waiting.id) is JobStatus.CANCELLED
    assert (await bot.queue.reads.quota_info(int(erin["id"]))).used_today == 1
    await _ended(standin, queued_msg)

    # /cancel without a job: the newest queued or running one, here the running one. It is refunded, and
    # the worker stops: the next job starts long before the cancelled one's 60 s would have ended.
    text = await private_reply(await standin.slash(erin, "cancel"))
    assert running.id in text and "stops within a second" in text and "refunded" in text
    assert (await bot.queue.reads.quota_info(int(erin["id"]))).used_today == 0
    await bot.imagine(frank, "third")
    [third] = await wait_until(lambda: _jobs(bot, frank), 10, "frank's job queued")

    async def third_running() -> bool:
        return await _status(bot, third.id) is JobStatus.RUNNING

    await wait_until(third_running, 15, "the worker to drop the cancelled job and start the next")

    # The Cancel button, pressed by an admin (Manage Server): cancelled, refunded, audited.
    third_msg = await _progress_message(standin, third.id)
    text = await private_reply(await standin.press(mona, third_msg, label="Cancel"))
    assert "cancelled" in text and "refunded" in text
    assert await _status(bot, third.id) is JobStatus.CANCELLED
    assert (await bot.queue.reads.quota_info(int(frank["id"]))).used_today == 0
    await _ended(standin, third_msg)
    [entry] = await bot.queue.moderation.audit_log(user_id=int(frank["id"]))
    assert (entry.action, entry.actor, entry.target) == ("cancel", f"discord:{mona['id']}", third.id)

    # The owner's own button; and a press on a finished job changes nothing.
    await bot.imagine(frank, "fourth")
    fourth = await wait_until(lambda: _newest(bot, frank, third.id), 10, "frank's second job")
    fourth_msg = await _progress_message(standin, fourth.id)
    text = await private_reply(await standin.press(frank, fourth_msg, label="Cancel"))
    assert "cancelled" in text and await _status(bot, fourth.id) is JobStatus.CANCELLED
    text = await private_reply(await standin.slash(op, "cancel", {"job": fourth.id}))
    assert "already finished" in text
    assert standin.violations == []


async def _newest(bot: RunningBot, user: dict[str, Any], other_than: str) -> JobRecord | None:
    jobs = [j for j in await _jobs(bot, user) if j.id != other_than]
    return jobs[0] if jobs else None


async def test_banned_words_strikes_timeout_ban_words_and_audit(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    op = standin.add_member("op")
    bot = await start_bot(
        fake_bot_engine(),
        admin={"user_ids": [int(op["id"])]},
        moderation={
            "banned_words": ["dragon", "ass"],
            "strikes_to_timeout": 2,
            "timeout_minutes": 60,
            "strikes_to_ban": 3,
        },
    )
    ivy, mona = standin.add_member("ivy"), standin.add_member("mona", manage_guild=True)
    ivy_id, guild = int(ivy["id"]), int(standin.guild_id)

    # A configured word, in any case: refused, named, nothing charged, one strike.
    text = await private_reply(await standin.slash(ivy, "imagine", {"prompt": "a DRAGON in the sky"}))
    assert "banned word **dragon**" in text and "Nothing was queued or charged" in text
    assert "Strike 1 of 2" in text
    assert await _jobs(bot, ivy) == [] and (await bot.queue.reads.quota_info(ivy_id)).used_today == 0
    assert await bot.queue.moderation.strikes(ivy_id) == 1
    # A banned word inside another word is fine.
    await bot.imagine(ivy, "a class in a passage")
    await bot.wait_result(timeout=15)
    assert len(await _jobs(bot, ivy)) == 1

    # /admin words: operators edit the global list, moderators their guild's; others are refused.
    refusal = await private_reply(await standin.slash(ivy, "admin words add", {"word": "cat"}))
    assert "Only server managers" in refusal
    text = await private_reply(await standin.slash(op, "admin words add", {"word": "Troll"}))
    assert "**troll** is now refused in prompts everywhere" in text
    text = await private_reply(await standin.slash(mona, "admin words add", {"word": "goblin"}))
    assert "**goblin** is now refused in prompts on this server" in text
    text = await private_reply(await standin.slash(mona, "admin words list"))
    assert "goblin" in text and "troll" not in text
    text = await private_reply(await standin.slash(op, "admin words list"))
    assert "troll" in text and "dragon" in text and "goblin" not in text

    # A guild's word, disguised with a zero-width space: refused there, a strike in that guild only.
    text = await private_reply(await standin.slash(ivy, "imagine", {"prompt": "a gob\u200blin king"}))
    assert "banned word **goblin** on this server" in text
    assert await bot.queue.moderation.strikes(ivy_id, guild) == 1
    # The second global strike (fullwidth letters): a timeout with its end; then nothing may be submitted.
    text = await private_reply(await standin.slash(ivy, "imagine", {"prompt": "ｔｒｏｌｌ bridge"}))
    assert "banned word **troll**" in text and "strike 2" in text and "until <t:" in text
    text = await private_reply(await standin.slash(ivy, "imagine", {"prompt": "a harmless cat"}))
    assert "timeout" in text and "until <t:" in text
    assert len(await _jobs(bot, ivy)) == 1

    # Once the timeout is over, a third global strike bans.
    async with bot.queue.database.write() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        await conn.execute(update(Strike).where(Strike.user_id == ivy_id).values(timeout_until=past))
    text = await private_reply(await standin.slash(ivy, "imagine", {"prompt": "an ass"}))
    assert "strike 3" in text and "banned" in text
    assert (await bot.queue.reads.quota_info(ivy_id)).banned
    text = await private_reply(await standin.slash(ivy, "imagine", {"prompt": "a harmless cat"}))
    assert "banned" in text

    text = await private_reply(await standin.slash(mona, "admin words remove", {"word": "GOBLIN"}))
    assert "removed from this server's list" in text

    # /admin audit: operators see everything, newest first; a moderator only their guild's entries.
    text = await private_reply(await standin.slash(op, "admin audit", {"member": ivy}))
    for action in ("ban", "strike", "timeout"):
        assert f"**{action}**" in text
    assert text.index("**ban**") < text.index("**timeout**")
    text = await private_reply(await standin.slash(op, "admin audit"))
    assert "**word_add**" in text and "**word_remove**" in text and "troll" in text
    text = await private_reply(await standin.slash(mona, "admin audit"))
    assert "goblin" in text and "troll" not in text and "**ban**" not in text
    assert standin.violations == []


async def test_a_remix_prompt_with_a_banned_word_is_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    from test_bot_edits import opened_modal

    bot = await start_bot(fake_bot_engine(), moderation={"banned_words": ["dragon"]})
    eve = standin.add_member("eve")
    await bot.imagine(eve, "a cat on a roof")
    grid = await bot.wait_result(timeout=15)
    await private_reply(await standin.slash(eve, "settings", {"remix": True}))
    ask = await opened_modal(bot, eve, grid, "V2")
    text = await private_reply(await standin.submit_modal(eve, ask, {"prompt": "a Dragon on a roof"}))
    assert "banned word **dragon**" in text and "Nothing was queued or charged" in text
    assert len(await _jobs(bot, eve)) == 1 and await bot.queue.moderation.strikes(int(eve["id"])) == 1
    assert standin.violations == []
