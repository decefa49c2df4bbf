"""Where a job's result can go, in order: its channel (bot token) → the interaction's webhook while its
token lives → a DM to the owner. And how a restarted bot finds a result it already posted.

A private job (/settings private) has its owner's DM as its channel; when the DM is refused (50007) the
result goes to the owner alone, as an ephemeral follow-up while the interaction token lives.

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

from bot import messages
from bot.replies import owner_only
from db.records import JobRecord

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

SHUT_OUT = {50001, 50013, 10003}  # Missing Access, Missing Permissions, Unknown Channel (deleted)
DMS_CLOSED = 50007  # Cannot send messages to this user (their DMs are closed to the bot)
SPOILER = "SPOILER_"  # the file name prefix that makes Discord show an attachment as a spoiler
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
            if exc.code == DMS_CLOSED:  # a private job's DM: only its user may see it, so ephemerally
                return await self._only_to_owner(job, content, file, shown, exc)
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

    async def _only_to_owner(
        self, job: JobRecord, content: str, file: Callable[[], discord.File] | None,
        view: discord.ui.View, refusal: discord.HTTPException,
    ) -> discord.Message:
        """A private job whose user's DMs are closed: an ephemeral follow-up while its token lives (raises
        `refusal` once it has expired)."""
        webhook = self.interaction_webhook(job)
        if webhook is None:
            raise refusal
        log.warning("job %s: the DM to user %s is refused; answering ephemerally", job.id, job.user_id)
        return await webhook.send(
            f"{content}\n{messages.dms_closed()}", wait=True, ephemeral=True, files=_files(file), view=view,
            allowed_mentions=owner_only(job.user_id))

    async def is_nsfw(self, job: JobRecord) -> bool:
        """Whether the job's channel is marked NSFW (age-restricted); a DM, or a channel the bot cannot
        see, is not."""
        channel_id = job.channel_id or 0
        channel: object = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException as exc:
                log.info("job %s: cannot look at channel %s (%s); not NSFW", job.id, channel_id, exc)
                return False
        is_nsfw = getattr(channel, "is_nsfw", None)
        return bool(is_nsfw()) if callable(is_nsfw) else False

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
                names = (a.filename.removeprefix(SPOILER) for a in message.attachments)
                if any(name.startswith(f"{job.id}.") for name in names):
                    return message.id
        except discord.HTTPException as exc:
            log.info("job %s: cannot read channel %s to look for an earlier post (%s)",
                     job.id, job.channel_id, exc)
        return None


def _files(make: Callable[[], discord.File] | None) -> list[discord.File]:
    """A fresh File for each route: discord.py consumes one when it sends it."""
    return [] if make is None else [make()]
