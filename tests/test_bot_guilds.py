"""A public bot in several guilds: moderators act on their own guild only, buttons stay in their guild,
and results reach their owner when a channel shuts the bot out; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from discord_standin import DiscordStandIn
from fixtures_bot import RunningBot, wait_until
from sqlalchemy import update
from test_bot_commands import private_reply

from db.models import Job
from imaginebot.core.domain import JobStatus


async def _jobs(bot: RunningBot, user: dict[str, Any]) -> list[Any]:
    return await bot.queue.reads.history(user=int(user["id"]))


async def test_moderators_act_on_their_own_guild_only(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    b = standin.add_guild("other server")
    bot = await start_bot(fake_bot_engine(seconds=60, steps=30), queue={"max_batch": 4},
                          discord={"guild_ids": [int(standin.guild_id), int(b["id"])]})
    mona = standin.add_member("mona", manage_guild=True)  # manages the default guild only
    standin.join(mona, b["id"])
    erin = standin.add_member("erin")
    standin.join(erin, b["id"])

    await bot.imagine(erin, "a fox here")
    there = await standin.slash(erin, "imagine", {"prompt": "a fox there"}, guild_id=b["id"],
                                channel_id=b["channel_id"])
    await there.wait_ack(5)
    jobs = await wait_until(lambda: _jobs(bot, erin), 10, "both jobs queued")
    [mine] = [j for j in jobs if j.guild_id == int(standin.guild_id)]
    [theirs] = [j for j in jobs if j.guild_id == int(b["id"])]

    listing = await private_reply(await standin.slash(mona, "admin queue"))
    assert mine.id in listing and theirs.id not in listing and "a fox there" not in listing
    refusal = await private_reply(await standin.slash(mona, "admin queue", guild_id=b["id"],
                                                      channel_id=b["channel_id"]))
    assert "Only server managers" in refusal  # no Manage Server there
    text = await private_reply(await standin.slash(mona, "admin cancel", {"job": theirs.id}))
    assert "no job with id" in text
    assert (await bot.queue.reads.get_job(theirs.id)).status is not JobStatus.CANCELLED

    one = {"member": erin, "daily_jobs": 1}
    text = await private_reply(await standin.slash(mona, "admin quota set", one))
    assert "effective limit **1**" in text
    refusal = await private_reply(await standin.slash(erin, "imagine", {"prompt": "one more here"}))
    assert "on this server" in refusal and "jobs for today" in refusal
    assert (await bot.queue.reads.quota_info(int(erin["id"]))).daily_limit == 25  # the global one stays

    await private_reply(await standin.slash(mona, "admin ban", {"member": erin, "reason": "spam"}))
    refusal = await private_reply(await standin.slash(erin, "imagine", {"prompt": "banned here"}))
    assert "banned" in refusal and "on this server" in refusal
    elsewhere = await standin.slash(erin, "imagine", {"prompt": "fine there"}, guild_id=b["id"],
                                    channel_id=b["channel_id"])
    assert "Queued" in (await elsewhere.wait_ack(5)).data["content"]

    await private_reply(await standin.slash(mona, "admin pause"))
    assert await bot.queue.reads.is_paused(int(standin.guild_id)) and not await bot.queue.reads.is_paused()
    for job in await _jobs(bot, erin):
        if not job.status.finished:
            await bot.queue.admin.cancel(job.id, actor="test")


async def test_a_button_of_another_guilds_job_is_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    b = standin.add_guild("other server")
    bot = await start_bot(fake_bot_engine(), discord={"guild_ids": [int(standin.guild_id), int(b["id"])]})
    erin = standin.add_member("erin")
    standin.join(erin, b["id"])
    await bot.imagine(erin, "a fox here")
    grid = await bot.wait_result(timeout=15)
    # A bot message in the other guild carrying that job's buttons (a forged interaction, as far as
    # Discord's own rules go: the bot must not trust a custom id beyond its job's guild).
    copy = standin._world.create_message(
        b["channel_id"], {"content": "copied", "components": grid["components"]}, []
    )
    press = await standin.press(erin, copy, label="U1")
    reply = await press.wait_message(lambda m: True, 5)
    assert "made elsewhere" in reply["content"] and reply["flags"] & 64  # ephemeral
    assert len(await _jobs(bot, erin)) == 1  # nothing queued, nothing charged


async def test_results_reach_their_owner_when_the_channel_shuts_the_bot_out(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(seconds=1, steps=4))
    standin.deny_bot(standin.channel_id, 50013)
    ivy = standin.add_member("ivy")
    await bot.imagine(ivy, "a fox behind closed doors")
    result = await bot.wait_result(timeout=20)  # through the interaction's webhook
    [job] = await _jobs(bot, ivy)
    assert result.get("webhook_id") and result["channel_id"] == standin.channel_id
    await wait_until(lambda: _delivered_as(bot, job.id, result["id"]), 10, "marked delivered")
    assert any(r.code == 50013 for r in standin.refused)

    # A job that ends after its interaction token's 15 minutes (the token's expiry moved into the past
    # while it runs): a DM to the owner.
    await bot.imagine(ivy, "a fox after hours")
    [later, _] = await wait_until(lambda: _two_jobs(bot, ivy), 10, "the second job")
    async with bot.queue.database.write() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        await conn.execute(update(Job).where(Job.id == later.id).values(token_expires_at=past))
    dm = await wait_until(lambda: _first_dm(standin, ivy), 20, "a DM with the result")
    await wait_until(lambda: _delivered_as(bot, later.id, dm["id"]), 10, "the DM marked delivered")
    assert [c["label"] for c in dm["components"][0]["components"]] == ["U1", "U2", "U3", "U4"]


async def test_a_restarted_bot_finds_its_earlier_post_instead_of_posting_again(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """A bot that posted a result and died before recording it, longer ago than Discord's nonce window,
    finds the result in the channel and records it instead of posting a second one."""
    bot = await start_bot(fake_bot_engine())
    judy = standin.add_member("judy")
    await bot.imagine(judy, "a single fox")
    grid = await bot.wait_result(timeout=15)
    [job] = await _jobs(bot, judy)
    await wait_until(lambda: _delivered_as(bot, job.id, grid["id"]), 10, "delivered")

    await bot.shutdown()
    standin._world.nonce_window = 0.0  # Discord has forgotten the nonce
    async with bot.queue.database.write() as conn:  # as if the bot died between posting and recording
        undelivered = update(Job).where(Job.id == job.id).values(delivered_at=None, result_message_id=None)
        await conn.execute(undelivered)
    await start_bot(fake_bot_engine())  # the restarted bot
    await wait_until(lambda: _delivered_as(bot, job.id, grid["id"]), 20, "delivered again, to the same post")
    posted = [m for m in standin.messages()
              if any(a["filename"].startswith(job.id) for a in m["attachments"])]
    assert [m["id"] for m in posted] == [grid["id"]]


async def _delivered_as(bot: RunningBot, job_id: str, message_id: str) -> bool:
    job = await bot.queue.reads.get_job(job_id)
    return job.delivered_at is not None and str(job.result_message_id) == str(message_id)


async def _two_jobs(bot: RunningBot, user: dict[str, Any]) -> list[Any] | None:
    jobs = await _jobs(bot, user)
    return jobs if len(jobs) == 2 else None


async def _first_dm(standin: DiscordStandIn, user: dict[str, Any]) -> dict[str, Any] | None:
    found = [m for m in standin.dm_messages(user) if m["attachments"]]
    return found[0] if found else None
