"""Answering an interaction privately and in time, whatever state it is in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime

import discord

log = logging.getLogger(__name__)


class Refusal(Exception):
    """A request the bot turns down; the message (from bot.messages) is shown to the user as is."""

# Seconds after Discord created the interaction by which we want it answered (Discord allows 3); work
# that takes longer is answered with a "thinking…" placeholder first.
ACK_TARGET = 0.25
MIN_WAIT = 0.05
MESSAGE_LIMIT = 2000  # characters of a message's content


def ack_budget(interaction: discord.Interaction) -> float:
    """How long work may take before we defer. The interaction's age comes from its snowflake, so time
    spent before our handler ran (the gateway, a busy event loop) is counted too."""
    age = (datetime.now(UTC) - interaction.created_at).total_seconds()
    return min(ACK_TARGET, max(MIN_WAIT, ACK_TARGET - age))


async def defer_privately(interaction: discord.Interaction) -> bool:
    """An ephemeral "thinking…" placeholder; reply_ephemeral() later turns it into the answer."""
    try:
        await interaction.response.defer(ephemeral=True, thinking=True)
        return True
    except discord.HTTPException as exc:
        log.warning("interaction %s: could not defer (%s)", interaction.id, exc)
        return False


def owner_only(user_id: int) -> discord.AllowedMentions:
    """A public message about a job pings its owner and nobody else: no roles, no @everyone, and no user
    a prompt happens to name (prompts are escaped as well, see bot.messages)."""
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(id=user_id)],
                                   replied_user=False)


async def answer_privately(interaction: discord.Interaction, text: Awaitable[str]) -> None:
    """Reply with the text `text` resolves to (it must not raise), deferring first if it is slow."""
    task = asyncio.ensure_future(text)
    done, _ = await asyncio.wait({task}, timeout=ack_budget(interaction))
    if not done:
        await defer_privately(interaction)
    await reply_ephemeral(interaction, await task)


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral message for the interaction's user. Never raises.

    Not yet answered: the answer itself. Deferred (the bot only ever defers ephemerally, see bot.submit):
    the "thinking…" placeholder becomes the message. Otherwise: an ephemeral followup. A text longer than
    a message may be (one quoting a long reason or prompt) is cut, rather than refused by Discord.
    """
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
        elif interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            await interaction.edit_original_response(content=text)
        else:
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s of user %s (%s)", interaction.id, interaction.user.id,
                    exc)
