"""What users and admins type, through the stand-in: refusals, /info, /settings, /admin, forged buttons.

The fake engine (no torch) stands in for generation here: these tests are about the Discord surface.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from discord_standin import DiscordStandIn, InteractionHandle
from fixtures_bot import wait_until

from imaginebot.core.domain import JobStatus

EPHEMERAL = 1 << 6


async def private_reply(ix: InteractionHandle) -> str:
    """The one ephemeral message the interaction got, within Discord's 3 s."""
    ack = await ix.wait_ack(5)
    assert ack.elapsed < 3
    message = await ix.wait_message(lambda m: m["flags"] & EPHEMERAL and not m["flags"] & 128, 5)
    assert not [m for m in ix.messages() if not m["flags"] & EPHEMERAL], "nothing public"
    return str(message["content"])


async def test_bad_prompt_names_the_parameter_and_queues_nothing(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    carol = standin.add_member("carol")
    text = await private_reply(await standin.slash(carol, "imagine", {"prompt": "a cat --ar 9:1"}))
    assert "--ar" in text and "1:4" in text
    text = await private_reply(await standin.slash(carol, "imagine", {"prompt": "a cat --wings 3"}))
    assert "--wings" in text
    assert await bot.queue.reads.history(user=int(carol["id"])) == []
    assert standin.violations == []


async def test_quota_exhausted_is_refused_and_not_charged(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), quota={"daily_jobs": 1})
    dave = standin.add_member("dave")
    await bot.imagine(dave, "a lighthouse")
    await bot.wait_result(timeout=10)
    text = await private_reply(await standin.slash(dave, "imagine", {"prompt": "another lighthouse"}))
    assert "1 of your 1 jobs" in text
    quota = await bot.queue.reads.quota_info(int(dave["id"]))
    assert (quota.used_today, quota.left_today) == (1, 0)
    assert len(await bot.queue.reads.history(user=int(dave["id"]))) == 1
    assert standin.violations == []


async def test_admin_commands_and_bans(standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any) -> None:
    listed = standin.add_member("listed")  # an admin by config, without Manage Server
    bot = await start_bot(fake_bot_engine(seconds=30, steps=30), admin={"user_ids": [int(listed["id"])]},
                          queue={"max_batch": 4})
    erin, manager = standin.add_member("erin"), standin.add_member("mona", manage_guild=True)

    refusal = await private_reply(await standin.slash(erin, "admin queue"))
    assert "Only server managers" in refusal
    set_99 = {"member": erin, "daily_jobs": 99}
    refusal = await private_reply(await standin.slash(erin, "admin quota set", set_99))
    assert "Only server managers" in refusal
    assert (await bot.queue.reads.quota_info(int(erin["id"]))).daily_limit == 25

    set_3 = {"member": erin, "daily_jobs": 3}
    text = await private_reply(await standin.slash(listed, "admin quota set", set_3))
    assert "0/3" in text and (await bot.queue.reads.quota_info(int(erin["id"]))).daily_limit == 3
    text = await private_reply(await standin.slash(manager, "admin quota show", {"member": erin}))
    assert "0/3" in text and "3 left" in text

    # Two jobs: the first runs (30 s), the second waits; /admin queue lists both, cancel refunds the second.
    await bot.imagine(erin, "first")
    await bot.imagine(erin, "second")
    running, waiting = await wait_until(lambda: _running_then_queued(bot, int(erin["id"])), 10, "one running")
    text = await private_reply(await standin.slash(manager, "admin queue"))
    assert running.id in text and waiting.id in text and "#1" in text
    text = await private_reply(await standin.slash(manager, "admin cancel", {"job": waiting.id}))
    assert "refunded" in text
    assert (await bot.queue.reads.get_job(waiting.id)).status is JobStatus.CANCELLED
    await standin.wait_for_message(lambda m: "cancelled" in m["content"] and "second" in m["content"], 5)
    text = await private_reply(await standin.slash(manager, "admin cancel", {"job": "no-such-job"}))
    assert "no job with id" in text

    # A manager's quota reset undoes only their guild's override; the operator's resets the global one.
    text = await private_reply(await standin.slash(manager, "admin quota reset", {"member": erin}))
    assert "1/3" in text and "On this server: limit none" in text
    text = await private_reply(await standin.slash(listed, "admin quota reset", {"member": erin}))
    assert "0/25" in text

    # A manager's ban, unban and pause act on their own guild only.
    guild = int(standin.guild_id)
    text = await private_reply(await standin.slash(manager, "admin ban", {"member": erin, "reason": "spam"}))
    assert "banned on this server" in text
    refusal = await private_reply(await standin.slash(erin, "imagine", {"prompt": "a forbidden fox"}))
    assert "banned" in refusal and "spam" in refusal and "on this server" in refusal
    shown = await bot.queue.reads.quota_show(int(erin["id"]), guild)
    assert shown.guild is not None and shown.guild.banned and not shown.banned
    await private_reply(await standin.slash(manager, "admin unban", {"member": erin}))
    shown = await bot.queue.reads.quota_show(int(erin["id"]), guild)
    assert shown.guild is not None and not shown.guild.banned

    text = await private_reply(await standin.slash(manager, "admin pause"))
    assert "this server" in text
    assert await bot.queue.reads.is_paused(guild) and not await bot.queue.reads.is_paused()
    refusal = await private_reply(await standin.slash(erin, "imagine", {"prompt": "while paused"}))
    assert "paused" in refusal
    text = await private_reply(await standin.slash(manager, "admin queue"))
    assert text.startswith("⏸️")
    await private_reply(await standin.slash(manager, "admin resume"))
    assert not await bot.queue.reads.is_paused(guild)

    # The operators' pause stops the whole queue.
    text = await private_reply(await standin.slash(listed, "admin pause"))
    assert "paused" in text and await bot.queue.reads.is_paused()
    await private_reply(await standin.slash(listed, "admin resume"))
    assert not await bot.queue.reads.is_paused()
    await bot.queue.admin.cancel(running.id)
    assert standin.violations == []


async def _running_then_queued(bot: Any, user_id: int) -> Any:
    jobs = await bot.queue.reads.user_jobs(user_id)
    states = [j.status for j in jobs]
    return jobs if states == [JobStatus.RUNNING, JobStatus.QUEUED] else None


async def test_info_shows_quota_and_positions(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(seconds=30, steps=30), queue={"max_batch": 4})
    frank = standin.add_member("frank")
    ix = await bot.imagine(frank, "a tower --repeat 3")
    assert len(ix.messages()) >= 1
    jobs = await wait_until(lambda: _one_running(bot, int(frank["id"])), 10, "the first job to start")
    text = await private_reply(await standin.slash(frank, "info"))
    assert "3 of 25 jobs used today, 22 left" in text
    assert "**Queued:** 2   **Running:** 1" in text
    assert f"`{jobs[0].id}` a tower — running" in text
    assert f"`{jobs[1].id}` a tower — queued, position 1" in text
    assert f"`{jobs[2].id}` a tower — queued, position 2" in text
    for job in jobs:
        await bot.queue.admin.cancel(job.id)
    assert standin.violations == []


async def _one_running(bot: Any, user_id: int) -> Any:
    jobs = await bot.queue.reads.user_jobs(user_id)
    return jobs if [j.status for j in jobs].count(JobStatus.RUNNING) == 1 and len(jobs) == 3 else None


async def test_settings_are_applied_to_the_next_imagine(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    gina = standin.add_member("gina")
    text = await private_reply(await standin.slash(gina, "settings", {"aspect_ratio": "3:2", "stylize": 250}))
    assert "--ar 3:2" in text and "--stylize 250" in text
    text = await private_reply(await standin.slash(gina, "settings"))
    assert "--ar 3:2" in text
    refusal = await private_reply(await standin.slash(gina, "settings", {"aspect_ratio": "9:1"}))
    assert "--ar" in refusal

    await bot.imagine(gina, "a boat")
    grid = await bot.wait_result(timeout=10)
    await bot.imagine(gina, "a boat --ar 1:1")
    await bot.wait_result(lambda m: m["id"] != grid["id"], timeout=10)
    second, first = await bot.queue.reads.history(user=int(gina["id"]))
    assert (first.spec.aspect_ratio, first.spec.stylize) == ("3:2", 250)
    assert first.spec.width > first.spec.height
    assert (second.spec.aspect_ratio, second.spec.stylize) == ("1:1", 250)

    await private_reply(await standin.slash(gina, "settings", {"reset": True}))
    assert (await bot.queue.admission.get_settings(int(gina["id"]))).to_json() == {}
    assert standin.violations == []


async def test_forged_and_unknown_buttons_are_refused_politely(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    hank = standin.add_member("hank")
    await bot.imagine(hank, "a real grid")
    grid = await bot.wait_result(timeout=10)
    job_id = grid["nonce"]
    forged_ids = ["ib:u:doesNotExist1:1", "totally-forged", f"ib:vsub:{job_id}:1", f"ib:u:{job_id}:0"]
    components = [{"type": 1, "components": [
        {"type": 2, "style": 2, "label": f"B{n}", "custom_id": cid} for n, cid in enumerate(forged_ids)
    ]}]
    url = f"{standin.api_base_url}/channels/{standin.channel_id}/messages"
    async with aiohttp.ClientSession() as http, http.post(
        url, json={"content": "an old message", "components": components},
        headers={"Authorization": f"Bot {standin.token}"},
    ) as response:
        assert response.status == 200
        forged = await response.json()
    for n in range(len(forged_ids)):
        text = await private_reply(await standin.press(hank, forged, label=f"B{n}"))
        assert "doesn't belong to an image this bot knows" in text
    assert len(await bot.queue.reads.history(user=int(hank["id"]))) == 1
    assert standin.violations == []
