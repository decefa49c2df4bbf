"""/imagine shows the prompt's notes (Midjourney parameters honoured differently or not at all) with its
queued message."""

from __future__ import annotations

from typing import Any

from discord_standin import DiscordStandIn

from bot import messages


async def test_imagine_shows_the_notes_under_the_queued_message(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    dana = standin.add_member("dana")
    ix = await standin.slash(dana, "imagine", {"prompt": "a lighthouse --v 7 --hd --ar 3:2"})
    ack = await ix.wait_ack(5)
    assert ack.elapsed < 3 and not ack.data.get("flags")
    text = ack.data["content"]
    assert "Queued — position 1" in text or "Starting…" in text
    assert "-# ℹ️ \\--v 7: no model here has the alias v7, so the usual model is used" in text
    assert "-# ℹ️ \\--hd: Midjourney's high-definition mode" in text
    jobs = await bot.queue.reads.history(user=int(dana["id"]))
    assert len(jobs) == 1 and jobs[0].spec.aspect_ratio == "3:2" and len(jobs[0].spec.notes) == 2
    await bot.wait_result(timeout=10)
    assert standin.violations == []


def test_at_most_four_notes_are_shown() -> None:
    text = messages.queued("a fox", 7, 2, notes=[f"note {k}" for k in range(6)])
    assert text.count("\n-# ℹ️ ") == 5 and text.endswith("…2 more")
    assert messages.queued("a fox", 7, 2) == "**a fox** — <@7> Queued — position 2"
