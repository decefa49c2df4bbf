"""The delivery loop: the outbox's reader on the Discord side.

Every finished job whose result has not been delivered is posted with the *bot token* into its channel
(interaction tokens die after 15 minutes; jobs may take longer), with the job id as the message nonce so
Discord itself drops a repeated post (`enforce_nonce`): a crash between posting and marking delivered
cannot double the result. Running jobs get throttled progress edits (percentage and the latest preview)
of their progress message, by channel and message id. discord.py waits out a 429's retry-after itself;
one Discord call at a time per job keeps a rate-limited job from piling up edits. All state is in the
database, so after a restart the loop simply carries on: it delivers what finished meanwhile and resumes
the progress edits of running jobs.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import flagged, messages
from bot.cogs.buttons import edit_view, grid_view
from bot.posting import Posting
from bot.replies import owner_only
from db.records import JobRecord
from imaginebot.core.domain import JobStatus
from imaginebot.core.images import fit_under, grid_png

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 6
MAX_BACKOFF = 60.0
TOO_LARGE = 40005  # Discord's "Request entity too large"
REMEMBER_DELIVERED = 60.0  # seconds
ERASE_EVERY = 60.0  # seconds between sweeps of expired interaction tokens and of unserved jobs


class Delivery(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.outbox = bot.queue.outbox
        self.reads = bot.queue.reads
        self.posting = Posting(bot)
        self.poll = max(0.05, min(1.0, bot.settings.queue.poll_interval))
        self.interval = bot.settings.discord.progress_interval
        self._shown: dict[str, tuple[float, int]] = {}  # job id -> (monotonic time, percent) last shown
        self._busy: dict[str, asyncio.Task[None]] = {}  # one Discord call at a time per job
        self._retry_at: dict[str, float] = {}  # job id -> monotonic time of the next delivery attempt
        # Jobs this process just delivered: a tick whose query began before the mark committed must not
        # deliver them again (harmless thanks to the nonce, but it would delete the progress message twice).
        self._delivered: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._erase_at = 0.0  # monotonic time of the next sweep of expired interaction tokens
        self.wake = asyncio.Event()

    async def cog_load(self) -> None:
        # REST works from login on; the gateway's READY is not needed to post or edit messages.
        self._task = asyncio.create_task(self._run(), name="delivery")

    async def cog_unload(self) -> None:
        tasks = [t for t in (self._task, *self._busy.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery tick failed; retrying")
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.poll)
            except TimeoutError:
                pass
            self.wake.clear()

    async def tick(self) -> None:
        now = time.monotonic()
        self._delivered = {k: t for k, t in self._delivered.items() if now - t < REMEMBER_DELIVERED}
        if now >= self._erase_at:
            self._erase_at = now + ERASE_EVERY
            erased = await self.outbox.erase_expired_tokens()
            if erased:
                log.info("erased %d expired interaction token(s)", erased)
            # Workers sweep this too; the bot does it as well, for when no worker runs at all.
            await self.bot.queue.lifecycle.fail_unserved()
        # Jobs being announced when the query starts are skipped even if their announcement ends before
        # it returns: the rows it read may predate their progress message id (which delivery deletes).
        announcing = set(self.bot.announcing)
        for job in await self.outbox.undelivered(limit=50, max_attempts=MAX_DELIVERY_ATTEMPTS):
            skip = job.id in announcing or job.id in self.bot.announcing or job.id in self._delivered
            if not skip and self._retry_at.get(job.id, 0.0) <= now:
                self._spawn(job.id, self.deliver(job))
        for job in await self.outbox.running_with_delivery():
            if job.progress_message_id is None:
                continue
            now = time.monotonic()  # after the queries above, which may take a while on a busy host
            last_at, last_pct = self._shown.get(job.id, (0.0, -1))
            if job.progress != last_pct and now - last_at >= self.interval and job.id not in self._busy:
                self._shown[job.id] = (now, job.progress)
                self._spawn(job.id, self.show_progress(job))

    def _spawn(self, job_id: str, coro: Coroutine[Any, Any, None]) -> None:
        if job_id in self._busy:
            coro.close()
            return
        task = asyncio.create_task(coro, name=f"delivery-{job_id}")
        self._busy[job_id] = task
        task.add_done_callback(lambda _t: self._busy.pop(job_id, None))

    def _channel(self, job: JobRecord) -> discord.PartialMessageable:
        return self.posting.channel(job)

    # -- progress ----------------------------------------------------------------------------------------

    async def show_progress(self, job: JobRecord) -> None:
        if job.progress_message_id is None:
            return
        preview = await self.reads.get_preview(job.id)
        files = [discord.File(io.BytesIO(preview), filename="preview.jpg")] if preview else []
        msg = self._channel(job).get_partial_message(job.progress_message_id)
        text = messages.progress(job.spec.prompt, job.user_id, job.progress, job.kind, job.edit)
        try:
            await msg.edit(content=text, attachments=files, allowed_mentions=owner_only(job.user_id))
        except discord.HTTPException as exc:
            log.info("job %s: progress edit failed (%s)", job.id, exc)

    # -- results -----------------------------------------------------------------------------------------

    async def deliver(self, job: JobRecord) -> None:
        """Post the job's result (or its failure) once, and mark it delivered once a message exists.

        Safe to call again for the same job, also after a restart: each attempt is counted *before* it
        posts, and a job with an earlier attempt is first looked for in its channel (that attempt may have
        posted and died before recording it, longer ago than Discord's nonce window); `mark_delivered`
        succeeds for one caller only. A job no route reaches is retried with back-off, then left
        undelivered (never marked delivered without a message)."""
        attempts = await self.outbox.delivery_attempt(job.id)
        try:
            # Only a result has a file to recognise it by; an ending edits or re-posts a short notice.
            unsure = job.status is JobStatus.SUCCEEDED and job.delivery_attempts > 0
            message_id = await self.posting.find_posted(job) if unsure else None
            if message_id is not None:
                log.info("job %s: found its result already posted as message %s", job.id, message_id)
            elif job.status is JobStatus.SUCCEEDED:
                message_id = await self._post_result(job)
            else:
                message_id = await self._post_ending(job)
        except Exception as exc:  # Discord refused every route, a 5xx, a timeout, a broken image
            if attempts < MAX_DELIVERY_ATTEMPTS:
                log.warning("job %s: delivery attempt %d failed (%s); retrying", job.id, attempts, exc)
                self._retry_at[job.id] = time.monotonic() + min(MAX_BACKOFF, 2.0**attempts)
            else:
                log.error("job %s: no delivery after %d attempts (%s); left undelivered",
                          job.id, attempts, exc)
                self._retry_at.pop(job.id, None)
            return
        self._delivered[job.id] = time.monotonic()
        if await self.outbox.mark_delivered(job.id, message_id):
            log.info("job %s (%s) delivered as message %s", job.id, job.status.value, message_id)
        self._shown.pop(job.id, None)
        self._retry_at.pop(job.id, None)

    async def _post_result(self, job: JobRecord) -> int:
        """The result: a grid (or one upscaled image) with its buttons; flagged images spoilered or
        withheld outside NSFW channels (bot.flagged). A result withheld whole is a note without a file
        or buttons."""
        images = await self.reads.get_images(job.id)
        if not images:
            raise RuntimeError(f"job {job.id} succeeded without images")
        nsfw = any(i.flagged for i in images) and await self.posting.is_nsfw(job)
        show = flagged.shown(images, nsfw_channel=nsfw, action=self.bot.settings.moderation.nsfw_action)
        view: discord.ui.View | None
        if job.kind.is_upscale:  # one image, with the edit buttons
            content = messages.result_upscale(job.spec.prompt, job.user_id, job.parent_index or 1, job.kind)
            view = edit_view(job)
        else:
            content = messages.result_grid(job.spec.prompt, job.user_id, job.seed, job.kind, job.edit)
            view = grid_view(job.id)
        if show.spoiler:
            content += messages.spoilered_note(show.flagged, len(images))
        if show.withheld:
            content += messages.withheld_note(show.withheld, len(images))
        if show.pngs is None:  # nothing left to show: the note alone
            sent = await self.posting.post(job, content)
            await self._remove_progress(job)
            return sent.id
        if job.kind.is_upscale:
            png: bytes = show.pngs[0]
        else:
            png = await asyncio.to_thread(grid_png, show.pngs)
        limit = self.bot.upload_limit(job.guild_id)
        while True:
            encoded = await asyncio.to_thread(fit_under, png, limit)

            def file(data: bytes = encoded.data, ext: str = encoded.ext) -> discord.File:
                # find_posted recognises the name (a spoiler's gets the SPOILER_ prefix)
                return discord.File(io.BytesIO(data), filename=f"{job.id}.{ext}", spoiler=show.spoiler)

            try:
                sent = await self.posting.post(job, content, file=file, view=view)
                break
            except discord.HTTPException as exc:
                if exc.code != TOO_LARGE or limit < 64 * 1024:
                    raise
                limit //= 2  # the guild's limit is lower than we knew: shrink until it fits
                log.info("job %s: upload too large, re-encoding under %d bytes", job.id, limit)
        await self._remove_progress(job)
        return sent.id

    async def _post_ending(self, job: JobRecord) -> int | None:
        """A failed or cancelled job: tell its user privately while the interaction token is valid,
        else say so on the progress message, else in a new message (by the first route that works)."""
        if job.status is JobStatus.CANCELLED:
            text = messages.cancelled(job.spec.prompt)
        else:
            text = messages.failed(job.spec.prompt, messages.failure(job.failure, job.error))
        if job.status is JobStatus.FAILED and await self._tell_privately(job, text):
            await self._remove_progress(job)
            return None
        if job.progress_message_id:
            msg = self._channel(job).get_partial_message(job.progress_message_id)
            try:  # view=None: the Cancel button goes with the progress
                await msg.edit(content=f"<@{job.user_id}> {text}", attachments=[], view=None,
                               allowed_mentions=owner_only(job.user_id))
                return int(job.progress_message_id)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("job %s: cannot edit its progress message (%s); posting instead", job.id, exc)
        return (await self.posting.post(job, f"<@{job.user_id}> {text}")).id

    async def _tell_privately(self, job: JobRecord, text: str) -> bool:
        webhook = self.posting.interaction_webhook(job)
        if webhook is None:
            return False
        try:
            await webhook.send(text, ephemeral=True, allowed_mentions=owner_only(job.user_id))
        except discord.HTTPException as exc:
            log.info("job %s: ephemeral failure notice failed (%s)", job.id, exc)
            return False
        return True

    async def _remove_progress(self, job: JobRecord) -> None:
        if not job.progress_message_id:
            return
        try:
            await self._channel(job).get_partial_message(job.progress_message_id).delete()
        except discord.HTTPException:
            pass


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Delivery(bot))
