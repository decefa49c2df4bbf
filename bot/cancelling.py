"""Cancelling a job: `/cancel` and the `Cancel` button on a job's progress message.

The owner may cancel their own job; admins (the /admin check: `admin.user_ids` everywhere, Manage Server
members for their guild's jobs) anyone's, audited. Anyone else gets an ephemeral refusal and nothing
changes. A queued job is cancelled and refunded; a running one too, and its worker stops within about a
second (db.admin.Admin.cancel). The delivery loop then turns the progress message into "cancelled".

The button is a `DynamicItem` whose custom id carries only the job id (`ib:cancel:<job>`), so it keeps
working after a restart; the job's owner and state are read from the database when it is pressed.
`/cancel` without a job cancels the caller's newest waiting or running job (the one they just queued,
most often).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot import messages
from bot import moderation_messages as mm
from bot.permissions import actor_of, admin_scope, is_admin
from bot.replies import answer_privately
from db.errors import JobNotFound
from db.records import CancelOutcome

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

CANCEL_TEMPLATE = r"ib:cancel:(?P<job>[A-Za-z0-9_-]{1,40})"


def cancel_id(job_id: str) -> str:
    return f"ib:cancel:{job_id}"


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CANCEL_TEMPLATE):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                label=mm.CANCEL_LABEL, style=discord.ButtonStyle.danger, custom_id=cancel_id(job_id)
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ImagineBot = interaction.client  # type: ignore[assignment]
        await answer_privately(interaction, cancel_job(bot, interaction, self.job_id))


def cancel_view(job_id: str) -> discord.ui.View:
    """The progress message's one button."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


async def cancel_job(bot: ImagineBot, interaction: discord.Interaction, job_id: str | None) -> str:
    """Cancel for the caller and say what happened (never raises: an error is logged and worded)."""
    try:
        async with bot.db_gate:
            return await _cancel(bot, interaction, job_id)
    except Exception:
        log.exception("cancel of job %s by user %s failed", job_id, interaction.user.id)
        return messages.internal_error()


async def _cancel(bot: ImagineBot, interaction: discord.Interaction, job_id: str | None) -> str:
    user_id = interaction.user.id
    if job_id is None:
        mine = await bot.queue.reads.user_jobs(user_id)
        if not mine:
            return mm.nothing_to_cancel()
        job_id = max(mine, key=lambda j: j.created_at).id
    job = await bot.queue.reads.find_job(job_id)
    if job is None:
        return mm.no_such_job(job_id)
    if job.user_id == user_id:
        outcome = await bot.queue.admin.cancel(job.id, user_id=user_id)
    elif is_admin(bot, interaction):
        try:
            outcome = await bot.queue.admin.cancel(
                job.id, actor=actor_of(interaction), guild_id=admin_scope(bot, interaction)
            )
        except JobNotFound:  # another guild's job: a moderator learns nothing about it
            return mm.not_yours()
    else:
        log.info("user %s may not cancel job %s of user %s", user_id, job.id, job.user_id)
        return mm.not_yours()
    if outcome is not CancelOutcome.ALREADY_FINISHED:
        log.info("job %s cancelled by user %s (%s)", job.id, user_id, outcome.value)
    return mm.cancelled(job.id, outcome)
