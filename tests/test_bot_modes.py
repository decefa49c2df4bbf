"""/fast, /relax, /turbo, Fast time in /info and /admin quota, and used-up Fast time, through the stand-in."""

from __future__ import annotations

from typing import Any

from discord_standin import DiscordStandIn
from fixtures_bot import wait_until
from test_bot_commands import private_reply


async def test_modes_set_the_default_and_a_prompt_still_chooses(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), quota={"turbo_factor": 3})
    rita = standin.add_member("rita")
    text = await private_reply(await standin.slash(rita, "relax"))
    assert "**Relax mode** is now your default" in text and "no daily limit" in text
    assert "**Job mode:** Relax" in await private_reply(await standin.slash(rita, "info"))

    await bot.imagine(rita, "a slow river")
    await standin.wait_for_message(lambda m: "a slow river" in m["content"] and "Relax mode" in m["content"])
    await bot.imagine(rita, "a fast river --turbo")
    await standin.wait_for_message(lambda m: "a fast river" in m["content"] and "Turbo mode" in m["content"])

    async def both_queued() -> list[str] | None:
        jobs = await bot.queue.reads.history(user=int(rita["id"]))
        return [j.mode for j in jobs] if len(jobs) == 2 else None

    assert await wait_until(both_queued, 10, "two jobs") == ["turbo", "relax"]  # newest first

    text = await private_reply(await standin.slash(rita, "turbo"))
    assert "**Turbo mode** is now your default" in text and "3× their GPU time" in text
    assert "**Job mode:** Turbo" in await private_reply(await standin.slash(rita, "info"))
    assert "**Fast mode**" in await private_reply(await standin.slash(rita, "fast"))
    assert (await bot.queue.admission.get_settings(int(rita["id"]))).mode == "fast"
    assert standin.violations == []


async def test_used_up_fast_time_queues_in_relax_and_says_so(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), quota={"fast_gpu_minutes": 0.0001})  # less than any job
    sam = standin.add_member("sam")
    await bot.imagine(sam, "a lighthouse at dusk")
    message = await standin.wait_for_message(lambda m: "a lighthouse at dusk" in m["content"], 10)
    assert "Fast time for today is used up" in message["content"] and "Relax" in message["content"]
    [job] = await bot.queue.reads.history(user=int(sam["id"]))
    assert job.mode == "relax"
    await bot.wait_result(timeout=20)  # Relax still runs on an idle queue
    text = await private_reply(await standin.slash(sam, "info"))
    assert "**Fast time today:** 0.0 min of 0.0 min used" in text
    assert standin.violations == []


async def test_without_relax_used_up_fast_time_is_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), quota={"fast_gpu_minutes": 0.0001, "relax_enabled": False})
    tom = standin.add_member("tom")
    text = await private_reply(await standin.slash(tom, "imagine", {"prompt": "a harbour"}))
    assert "Fast GPU time for today is used up" in text and "Relax mode is off" in text
    text = await private_reply(await standin.slash(tom, "imagine", {"prompt": "a harbour --relax"}))
    assert "Relax mode is off on this bot" in text
    assert await bot.queue.reads.history(user=int(tom["id"])) == []
    assert standin.violations == []


async def test_admin_sets_gpu_minutes(standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any) -> None:
    operator = standin.add_member("olga")
    bot = await start_bot(fake_bot_engine(), admin={"user_ids": [int(operator["id"])]})
    uma, moderator = standin.add_member("uma"), standin.add_member("mod", manage_guild=True)
    five = {"member": uma, "gpu_minutes": 5}
    text = await private_reply(await standin.slash(operator, "admin quota set", five))
    assert "Fast time: 0.0 min of 5.0 min (set for them) used today, 5.0 min left" in text
    assert (await bot.queue.reads.quota_info(int(uma["id"]))).fast_limit_seconds == 300

    fifty = {"member": uma, "gpu_minutes": 50}
    text = await private_reply(await standin.slash(moderator, "admin quota set", fifty))
    assert "only the bot's operators" in text
    text = await private_reply(await standin.slash(operator, "admin quota set", {"member": uma}))
    assert "Give `daily_jobs`, `gpu_minutes`, or both" in text
    assert (await bot.queue.reads.quota_info(int(uma["id"]))).fast_limit_seconds == 300  # unchanged
    assert standin.violations == []


async def test_a_button_press_runs_in_the_pressers_current_mode(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    vera = standin.add_member("vera")
    await bot.imagine(vera, "a kite")
    grid = await bot.wait_result(timeout=20)
    await private_reply(await standin.slash(vera, "turbo"))
    ix = await standin.press(vera, grid, label="U2")
    await ix.wait_ack(5)

    async def upscale_mode() -> str | None:
        jobs = await bot.queue.reads.history(user=int(vera["id"]))
        return jobs[0].mode if len(jobs) == 2 else None

    assert await wait_until(upscale_mode, 10, "the upscale job") == "turbo"
    assert standin.violations == []
