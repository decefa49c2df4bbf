"""Where a job's result can go, in order: its channel (bot token) → the interaction's webhook while its
token lives → a DM to the owner. And how a restarted bot finds a result it already posted.

Discord refuses a bot-token post with 403 and code 50001 (Missing Access) or 50013 (Missing Permissions)
when a server's channel settings shut the bot out; the interaction webhook needs no channel permission,
and a DM needs none of the server's. A result is posted with the job id as nonce, as the file name of its
image and in its buttons' custom ids: the nonce lets Discord drop a repeat within minutes, and the file
name lets `find_posted` recognise the result in the channel after that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot.replies import owner_only
from db.records import JobRecord

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

SHUT_OUT = {50001, 50013, 10003}  # Missing Access, Missing Permissions, Unknown Channel (deleted)
TOKEN_MARGIN = timedelta(seconds=30)  # don't start using an interaction token this close to its expiry
HISTORY_SCAN = 50  # recent channel messages searched for a result posted before a restart


class Posting:
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    def channel(self, job: JobRecord) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(job.channel_id or 0, guild_id=job.guild_id)

    async def post(
        self, job: JobRecord, content: str, *, file: Callable[[], discord.File] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        """Post by the first route that works; raises the last refusal when none does."""
        mentions = owner_only(job.user_id)
        shown = view if view is not None else discord.utils.MISSING
        try:
            return await self.channel(job).send(
                content, nonce=job.id, files=_files(file), view=shown, allowed_mentions=mentions)
        except (discord.Forbidden, discord.NotFound) as exc:
            if exc.code not in SHUT_OUT:
                raise
            log.warning("job %s: channel %s refuses the bot (%s); trying the interaction, then a DM",
                        job.id, job.channel_id, exc.code)
        webhook = self.interaction_webhook(job)
        if webhook is not None:
            try:
                return await webhook.send(
                    content, wait=True, files=_files(file), view=shown, allowed_mentions=mentions)
            except discord.HTTPException as exc:
                log.info("job %s: the interaction webhook failed too (%s)", job.id, exc)
        dm = await (await self.bot.fetch_user(job.user_id)).create_dm()
        message = await dm.send(
            content, nonce=job.id, files=_files(file), view=shown, allowed_mentions=mentions)
        log.info("job %s: sent by DM to its owner", job.id)
        return message

    def interaction_webhook(self, job: JobRecord) -> discord.Webhook | None:
        """The job's interaction follow-up webhook, while its token lives (an application webhook: only
        those may send ephemeral messages and components)."""
        expires = job.token_expires_at
        if not (job.interaction_token and job.application_id and expires):
            return None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if expires - TOKEN_MARGIN <= datetime.now(UTC):
            return None
        return discord.Webhook.from_state(
            {"id": job.application_id, "type": discord.WebhookType.application.value,
             "token": job.interaction_token},
            self.bot._connection,
        )

    async def find_posted(self, job: JobRecord) -> int | None:
        """The id of a result message this bot already posted for the job in its channel (an earlier
        attempt may have posted it and died before recording it, longer ago than Discord's nonce window),
        else None. A channel that cannot be read answers None."""
        me = self.bot.user.id if self.bot.user else None
        try:
            async for message in self.channel(job).history(limit=HISTORY_SCAN):
                if me is not None and message.author.id != me:
                    continue
                if any(a.filename.startswith(f"{job.id}.") for a in message.attachments):
                    return message.id
        except discord.HTTPException as exc:
            log.info("job %s: cannot read channel %s to look for an earlier post (%s)",
                     job.id, job.channel_id, exc)
        return None


def _files(make: Callable[[], discord.File] | None) -> list[discord.File]:
    """A fresh File for each route: discord.py consumes one when it sends it."""
    return [] if make is None else [make()]
