"""Putting jobs on the queue from an interaction, answering Discord within its 3 seconds always.

The enqueue (ban, quota and queue limits checked in one transaction) usually takes milliseconds, so the
first answer is the public "Queued — position N" message itself, which then becomes the job's progress
message. When the database is slow (many requests at once), the interaction is deferred *ephemerally*
before the budget runs out: a refusal then still reaches only its user, and on success the placeholder
says "Queued" privately while a public progress message is posted into the channel with the bot token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

import discord

from bot import messages, mode_messages
from bot.cancelling import cancel_view
from bot.client import DB_GATE
from bot.moderation import check_timeout
from bot.replies import Refusal, ack_budget, defer_privately, owner_only, reply_ephemeral
from db.errors import QueueRefusal, SourceImageMissing
from db.records import DeliveryTarget, JobRecord
from imaginebot.core import metrics
from imaginebot.core.prompt import PromptError

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

CROWD_CHECK = 0.02  # seconds between looks at how many interactions wait for the database
TOKEN_LIFETIME = timedelta(minutes=15)

MakeJobs = Callable[[], Awaitable[Sequence[JobRecord]]]


def delivery_target(interaction: discord.Interaction) -> DeliveryTarget:
    return DeliveryTarget(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        interaction_id=interaction.id,
        interaction_token=interaction.token,
        application_id=interaction.application_id,
        token_expires_at=interaction.created_at + TOKEN_LIFETIME,
    )


async def delivery_for(interaction: discord.Interaction, private: bool | None) -> DeliveryTarget:
    """The interaction's channel; or, in private mode (/settings private) in a server, the user's DM: the
    job keeps its server (quota, moderation) but its progress and result go to the DM."""
    target = delivery_target(interaction)
    if not private or interaction.guild_id is None:
        return target
    dm = await interaction.user.create_dm()
    return replace(target, channel_id=dm.id)


async def submit(bot: ImagineBot, interaction: discord.Interaction, make_jobs: MakeJobs) -> list[JobRecord]:
    """Run `make_jobs` (parse + enqueue; PromptError, QueueRefusal and Refusal are the user's errors),
    answer the interaction in time, and post one progress message per job. Returns the jobs queued."""
    bot.note_interaction(interaction)
    bot.submitting += 1
    try:
        return await _submit(bot, interaction, make_jobs)
    finally:
        bot.submitting -= 1


@dataclass(frozen=True)
class _Queued:
    jobs: list[JobRecord]
    positions: list[int | None]


async def _submit(bot: ImagineBot, interaction: discord.Interaction, make_jobs: MakeJobs) -> list[JobRecord]:
    async def enqueue() -> _Queued:
        async with bot.db_gate:
            await check_timeout(bot, interaction)  # a moderation timeout: nothing is submitted until it ends
            jobs = list(await make_jobs())
            # Until its progress message is known, delivery leaves a job alone (marked in the same step
            # as the enqueue returns, so a fast worker cannot finish it unnoticed).
            bot.announcing.update(job.id for job in jobs)
            return _Queued(jobs, [await bot.queue.reads.position(job.id) for job in jobs])

    task = asyncio.ensure_future(enqueue())
    deferred = False
    if not await _done_in_time(bot, interaction, task):
        deferred = await defer_privately(interaction)
        _observe_ack(interaction)
    try:
        queued = await task
    except PromptError as err:
        await reply_ephemeral(interaction, messages.refused(str(err)))
        return []
    except QueueRefusal as err:
        text = messages.refusal(err)
        if isinstance(err, SourceImageMissing) and await bot.queue.retention.images_pruned(err.job_id):
            text = messages.image_pruned(bot.settings.storage.keep_days)
        await reply_ephemeral(interaction, messages.refused(text))
        return []
    except Refusal as refusal:
        await reply_ephemeral(interaction, str(refusal))
        return []
    except Exception:
        log.exception("enqueue failed for user %s", interaction.user.id)
        await reply_ephemeral(interaction, messages.internal_error())
        return []
    finally:
        if not deferred:
            _observe_ack(interaction)
    try:
        await _announce(bot, interaction, queued, deferred)
    finally:
        bot.announcing.difference_update(job.id for job in queued.jobs)
    return queued.jobs


def _observe_ack(interaction: discord.Interaction) -> None:
    """Time from the interaction's creation to our first answer (the `imaginebot_ack_seconds` metric)."""
    metrics.observe_ack((discord.utils.utcnow() - interaction.created_at).total_seconds())


async def _done_in_time(
    bot: ImagineBot, interaction: discord.Interaction, task: asyncio.Future[_Queued]
) -> bool:
    """Wait for the enqueue while the ack budget lasts; give up at once when more interactions are
    waiting for the database than it serves at a time (a burst: each would wait in line)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ack_budget(interaction)
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0 or bot.submitting > DB_GATE:
            return False
        await asyncio.wait({task}, timeout=min(remaining, CROWD_CHECK))
    return True


async def _announce(
    bot: ImagineBot, interaction: discord.Interaction, queued: _Queued, deferred: bool
) -> None:
    # Private mode (delivery_for): the channel hears nothing but an ephemeral word; progress goes by DM.
    by_dm = bool(queued.jobs) and queued.jobs[0].channel_id != (interaction.channel_id or 0)
    if by_dm:
        await reply_ephemeral(interaction, messages.queued_by_dm(len(queued.jobs), queued.positions[0]))
    elif deferred:
        await reply_ephemeral(interaction, messages.queued_private(len(queued.jobs), queued.positions[0]))
    for n, (job, position) in enumerate(zip(queued.jobs, queued.positions, strict=True)):
        text = messages.queued(job.spec.prompt, job.user_id, position, job.kind, job.edit, job.spec.notes)
        text += mode_messages.queued_note(job)
        channel = bot.get_partial_messageable(job.channel_id or 0, guild_id=job.guild_id)
        try:
            if n == 0 and not deferred and not by_dm and not interaction.response.is_done():
                response = await interaction.response.send_message(
                    text, allowed_mentions=owner_only(job.user_id), view=cancel_view(job.id))
                message_id = response.message_id or (await interaction.original_response()).id
            else:
                message_id = (await channel.send(
                    text, allowed_mentions=owner_only(job.user_id), view=cancel_view(job.id))).id
        except discord.HTTPException as exc:
            log.warning("job %s: could not post its progress message (%s)", job.id, exc)
            continue
        async with bot.db_gate:
            await bot.queue.outbox.set_progress_message(job.id, message_id)
        log.info("job %s (%s) queued for user %s at position %s", job.id, job.kind.value, job.user_id,
                 position)
