"""Putting jobs on the queue from an interaction, answering Discord within its 3 seconds always.

The enqueue (ban, quota and queue limits checked in one transaction) usually takes milliseconds, so the
first answer is the "Queued — position N" message itself. When the database is slow the interaction is
deferred first, so Discord never shows "The application did not respond".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot import messages
from db.queue import DeliveryTarget, QueueRefusal
from imaginebot.domain import JobKind, JobSpec

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

ACK_BUDGET = 1.5  # seconds we allow the enqueue before deferring (Discord allows 3)
TOKEN_LIFETIME = timedelta(minutes=15)


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral message, whatever state the interaction is in. Never raises."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            # A public "thinking…" placeholder cannot turn ephemeral: remove it, then answer privately.
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                pass
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell user %s: %s", interaction.user.id, text)


def delivery_target(interaction: discord.Interaction) -> DeliveryTarget:
    return DeliveryTarget(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        interaction_id=interaction.id,
        interaction_token=interaction.token,
        application_id=interaction.application_id,
        token_expires_at=datetime.now(UTC) + TOKEN_LIFETIME,
    )


async def submit(
    bot: ImagineBot,
    interaction: discord.Interaction,
    specs: Sequence[JobSpec],
    *,
    kind: JobKind = JobKind.IMAGINE,
    parent: tuple[str, int] | None = None,
    strength: float | None = None,
) -> None:
    """Enqueue `specs` for the interaction's user and post one progress message per job."""
    task = asyncio.ensure_future(
        bot.queue.enqueue(
            interaction.user.id,
            list(specs),
            kind=kind,
            model=bot.model,
            parent=parent,
            strength=strength,
            delivery=delivery_target(interaction),
        )
    )
    done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET)
    if not done:
        await interaction.response.defer(thinking=True)
    try:
        jobs = await task
    except QueueRefusal as refusal:
        await reply_ephemeral(interaction, messages.prompt_error(str(refusal)))
        return
    except Exception:
        log.exception("enqueue failed for user %s", interaction.user.id)
        await reply_ephemeral(interaction, messages.internal_error())
        return

    for n, job in enumerate(jobs):
        position = await bot.queue.position(job.id)
        text = messages.queued(job.spec.prompt, position)
        try:
            if n == 0 and interaction.response.is_done():
                message: discord.abc.Snowflake = await interaction.edit_original_response(content=text)
            elif n == 0:
                await interaction.response.send_message(text)
                message = await interaction.original_response()
            else:
                message = await interaction.followup.send(text, wait=True)
        except discord.HTTPException:
            log.warning("job %s: could not post its progress message", job.id, exc_info=True)
            continue
        await bot.queue.set_progress_message(job.id, message.id)
        log.info("job %s queued for user %s at position %s", job.id, interaction.user.id, position)
