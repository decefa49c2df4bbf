"""The whole Discord flow with the real engine: real discord.py against the stand-in over real sockets, a
real SQLite file, and the embedded worker generating with the tiny diffusers model.

One long test on purpose: the model is loaded once, and each step builds on the previous result (the grid
whose buttons are pressed, the upscale whose Vary buttons are pressed).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from discord_standin import DiscordStandIn
from fixtures_bot import RunningBot, png_size_of, wait_until

GRID_ROWS = [["U1", "U2", "U3", "U4"], ["V1", "V2", "V3", "V4", "🔄"]]
BASE = 128  # fixtures_bot.TINY_RESOLUTION: `--ar 1:1` is 128×128


def button_rows(message: dict[str, Any]) -> list[list[str]]:
    return [[c["label"] for c in row["components"]] for row in message["components"]]


def shown_seed(message: dict[str, Any]) -> int:
    """The seed a result message states, "(seed N)"."""
    match = re.search(r"\(seed (\d+)\)", message["content"])
    assert match, message["content"]
    return int(match.group(1))


def attachment_bytes(message: dict[str, Any]) -> bytes:
    (attachment,) = message["attachments"]
    return bytes(attachment["data"])


async def press_and_wait(bot: RunningBot, user: dict[str, Any], message: dict[str, Any], label: str,
                         seen: set[str]) -> dict[str, Any]:
    """Press `label` on `message` as `user`; the new result message it leads to."""
    ix = await bot.standin.press(user, message, label=label)
    ack = await ix.wait_ack(5)
    assert ack.elapsed < 3 and ack.type in (4, 5), ack  # 5: deferred privately, the enqueue was slow
    if ack.type == 4:
        assert "Queued" in (ix.original or {}).get("content", "") or "Starting" in ix.original["content"]
    result = await bot.wait_result(lambda m: m["id"] not in seen, timeout=60)
    seen.add(result["id"])
    return result


async def test_imagine_progress_grid_and_every_button(
    standin: DiscordStandIn, start_bot: Any, tiny_bot_engine: Any
) -> None:
    # 60 steps at 128×128 take a few seconds on 2 cores: long enough for throttled progress edits.
    bot = await start_bot(tiny_bot_engine, gen={"steps": 60}, discord={"progress_interval": 1.0})
    names = {c["name"] for c in standin.commands(standin.guild_id)}
    assert names == {
        "imagine", "describe", "blend", "info", "settings", "models", "admin", "cancel", "show", "prefer",
        "fast", "relax", "turbo",
    }

    alice, bob = standin.add_member("alice"), standin.add_member("bob")
    ix = await standin.slash(alice, "imagine", {"prompt": "a red fox in snow --ar 1:1 --seed 42"})
    ack = await ix.wait_ack(5)
    assert ack.type in (4, 5) and ack.elapsed < 3  # 5: deferred privately when the enqueue was slow
    # The public progress message (the answer itself, or a channel message after a deferral) says
    # "Queued — position 1", or "Starting…" when the idle worker claimed the job before its position was read.
    progress_id = await bot.progress_id(alice)
    shown = standin.message(progress_id)["initial"]["content"]
    assert "Queued — position 1" in shown or "Starting…" in shown

    grid = await bot.wait_result(timeout=60)
    seen = {grid["id"]}
    (job,) = await bot.queue.reads.history(user=int(alice["id"]))
    assert grid["nonce"] == job.id and job.seed == 42 and shown_seed(grid) == 42

    # Progress: percentages with a preview image, at most one edit a progress_interval.
    async def replaced() -> bool:  # the progress message is deleted right after the result is posted
        return bool(standin.message(progress_id)["deleted"])

    await wait_until(replaced, 10, "the progress message replaced by the result")
    progress = standin.message(progress_id)
    edits = progress["edits"]
    assert any("%" in e["content"] for e in edits)
    assert any(e["attachments"] and e["attachments"][0]["filename"] == "preview.jpg" for e in edits)
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(edits)]
    assert all(gap > 0.8 for gap in gaps), gaps

    # The grid: exactly the buttons, and a PNG that is 2×2 images of the job's size.
    assert button_rows(grid) == GRID_ROWS
    assert grid["attachments"][0]["filename"].endswith(".png")
    assert png_size_of(attachment_bytes(grid)) == (2 * BASE, 2 * BASE)

    upscale = await press_and_wait(bot, alice, grid, "U1", seen)
    assert button_rows(upscale) == [
        ["Upscale (Subtle)", "Upscale (Creative)"],
        ["Vary (Subtle)", "Vary (Strong)", "Vary (Region)"],
        ["Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom"],
        ["⬅️", "➡️", "⬆️", "⬇️"],
    ]
    width, height = png_size_of(attachment_bytes(upscale))
    assert width >= 2 * BASE and height >= 2 * BASE
    assert "Image #1" in upscale["content"]

    variations = await press_and_wait(bot, alice, grid, "V2", seen)
    assert button_rows(variations) == GRID_ROWS and "Variations" in variations["content"]
    assert png_size_of(attachment_bytes(variations)) == (2 * BASE, 2 * BASE)

    reroll = await press_and_wait(bot, alice, grid, "🔄", seen)
    assert button_rows(reroll) == GRID_ROWS and "a red fox in snow" in reroll["content"]
    assert shown_seed(reroll) != 42  # a new seed (a plain substring test fails for e.g. seed 4289414941)

    for label in ("Vary (Subtle)", "Vary (Strong)"):
        varied = await press_and_wait(bot, alice, upscale, label, seen)
        assert button_rows(varied) == GRID_ROWS

    kinds = [j.kind.value for j in reversed(await bot.queue.reads.history(user=int(alice["id"]), limit=10))]
    assert kinds == ["imagine", "upscale", "variation", "reroll", "variation", "variation"]
    strengths = [j.strength for j in (await bot.queue.reads.history(user=int(alice["id"]), limit=2))]
    assert strengths[1] is not None and strengths[0] is not None and strengths[1] < strengths[0]

    # Bob presses a button on Alice's grid: his job, his quota.
    before = await bot.queue.reads.quota_info(int(alice["id"]))
    bobs = await press_and_wait(bot, bob, grid, "U3", seen)
    assert f"<@{bob['id']}>" in bobs["content"] and "Image #3" in bobs["content"]
    assert (await bot.queue.reads.quota_info(int(bob["id"]))).used_today == 1
    assert (await bot.queue.reads.quota_info(int(alice["id"]))).used_today == before.used_today == 6

    await wait_until(lambda: _all_delivered(bot), 10, "every job delivered")
    assert standin.violations == []


async def _all_delivered(bot: RunningBot) -> bool:
    return not await bot.queue.outbox.undelivered()
