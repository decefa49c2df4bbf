"""`/settings private:true` through the Discord stand-in: progress and results come by DM (with working
buttons) and the server channel hears nothing but an ephemeral word; with DMs closed the result is shown
to its owner alone, ephemerally. The fake engine generates: this is about the Discord surface."""

from __future__ import annotations

from typing import Any

from discord_standin import DiscordStandIn
from fixtures_bot import RunningBot, is_progress, wait_until
from test_bot_commands import private_reply

EPHEMERAL = 64


def _result(m: dict[str, Any]) -> bool:
    return bool(m["attachments"] and m["components"]) and not is_progress(m)


def _buttons(message: dict[str, Any]) -> list[str]:
    return [c.get("label") or "" for row in message["components"] for c in row["components"]]


def _public(standin: DiscordStandIn, text: str) -> list[dict[str, Any]]:
    """The server channel's messages that anyone can see and that mention `text`."""
    return [m for m in standin.messages(include_deleted=True)
            if text in m["content"] and not m["flags"] & EPHEMERAL]


async def _private_on(bot: RunningBot, user: dict[str, Any], on: bool = True) -> str:
    return await private_reply(await bot.standin.slash(user, "settings", {"private": on}))


async def test_private_mode_delivers_by_dm(standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any,
                                           ) -> None:
    bot = await start_bot(fake_bot_engine(seconds=0.5, steps=4))
    nia = standin.add_member("nia")
    assert "Private mode on" in await _private_on(bot, nia)
    assert "Private mode on" in await private_reply(await standin.slash(nia, "settings"))

    said = await private_reply(await standin.slash(nia, "imagine", {"prompt": "a secret garden"}))
    assert "progress and results come by DM" in said
    dm = standin.dm_channel_id(nia)
    grid = await standin.wait_for_message(_result, 30, channel_id=dm)
    assert "a secret garden" in grid["content"]
    assert _buttons(grid)[:8] == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]
    progress = [m for m in standin.messages(dm, include_deleted=True) if is_progress(m)]
    assert progress  # the progress went by DM too, then away

    async def progress_gone() -> bool:
        return all(standin.message(m["id"])["deleted"] for m in progress)

    await wait_until(progress_gone, 10, "the DM's progress message deleted")
    assert _public(standin, "a secret garden") == []

    # The DM's buttons work, and what they make comes by DM as well.
    upscale_ix = await standin.press(nia, grid, label="U3")
    await upscale_ix.wait_ack(5)
    upscale = await standin.wait_for_message(lambda m: "Image #3" in m["content"] and _result(m), 30,
                                             channel_id=dm)
    assert "Vary (Subtle)" in _buttons(upscale)
    assert _public(standin, "Image #3") == []

    # Private mode off: back to the channel.
    assert "Private mode off" in await _private_on(bot, nia, False)
    ix = await standin.slash(nia, "imagine", {"prompt": "an open field"})
    await ix.wait_ack(5)
    public = await bot.wait_result(lambda m: "an open field" in m["content"])
    assert public["channel_id"] == standin.channel_id
    assert [m for m in standin.dm_messages(nia) if "an open field" in m["content"]] == []


async def test_closed_dms_get_the_result_ephemerally(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(seconds=0.2, steps=2))
    oz = standin.add_member("oz")
    await _private_on(bot, oz)
    standin.block_dms(oz)
    ix = await standin.slash(oz, "imagine", {"prompt": "a locked diary"})
    await ix.wait_ack(5)
    shown = await ix.wait_message(lambda m: bool(m["flags"] & EPHEMERAL and m["attachments"]), 30)
    assert "cannot send you direct messages" in shown["content"]
    assert _buttons(shown)[:4] == ["U1", "U2", "U3", "U4"]
    assert _public(standin, "a locked diary") == []
    assert standin.dm_messages(oz) == []
