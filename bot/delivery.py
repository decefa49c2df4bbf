"""The delivery loop: the outbox's reader on the Discord side.

Every finished job whose result has not been delivered is posted with the *bot token* into its channel
(interaction tokens die after 15 minutes; jobs may take longer), with the job id as the message nonce so
Discord itself drops a repeated post (`enforce_nonce`) — a crash between posting and marking delivered
cannot double the result. Running jobs get throttled progress edits of their progress message. All state
is in the database, so after a restart the loop simply carries on.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import messages
from bot.cogs.buttons import grid_view, upscale_view
from imaginebot.domain import JobKind, JobStatus
from imaginebot.images import fit_under, grid_png

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
MAX_DELIVERY_ATTEMPTS = 5


class Delivery(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.queue: Any = bot.queue
        self.poll = max(0.2, min(1.0, bot.settings.queue.poll_interval))
        self.interval = bot.settings.discord.progress_interval
        self._shown: dict[str, tuple[float, int]] = {}  # job id -> (monotonic time, percent) last shown
        self._busy: dict[str, asyncio.Task[None]] = {}  # one Discord call at a time per job
        self._failures: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery")

    async def cog_unload(self) -> None:
        if self._task:
            self._task.cancel()
        for task in self._busy.values():
            task.cancel()

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
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
        for job in await self.queue.undelivered(limit=50):
            self._spawn(job.id, self.deliver(job))
        now = time.monotonic()
        for job in await self.queue.running_with_delivery():
            if job.progress_message_id is None:
                continue
            last_at, last_pct = self._shown.get(job.id, (0.0, -1))
            if job.progress != last_pct and now - last_at >= self.interval:
                self._shown[job.id] = (now, job.progress)
                self._spawn(job.id, self.show_progress(job))

    def _spawn(self, job_id: str, coro: Any) -> None:
        if job_id in self._busy:
            coro.close()
            return
        task = asyncio.create_task(coro, name=f"delivery-{job_id}")
        self._busy[job_id] = task
        task.add_done_callback(lambda _t: self._busy.pop(job_id, None))

    def _channel(self, job: Any) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def show_progress(self, job: Any) -> None:
        preview = await self.queue.get_preview(job.id)
        files = [discord.File(io.BytesIO(preview), filename="preview.jpg")] if preview else []
        msg = self._channel(job).get_partial_message(job.progress_message_id)
        try:
            await msg.edit(content=messages.progress(job.spec.prompt, job.progress), attachments=files)
        except discord.HTTPException as exc:
            log.info("job %s: progress edit failed (%s)", job.id, exc)

    async def deliver(self, job: Any) -> None:
        try:
            if job.status is JobStatus.SUCCEEDED:
                message_id = await self._post_result(job)
            else:
                message_id = await self._post_ending(job)
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning("job %s: channel %s refused the result (%s); giving up", job.id, job.channel_id, exc)
            message_id = None
        except discord.HTTPException as exc:
            n = self._failures[job.id] = self._failures.get(job.id, 0) + 1
            log.warning("job %s: delivery attempt %d failed (%s)", job.id, n, exc)
            if n < MAX_DELIVERY_ATTEMPTS:
                return
            message_id = None
        if await self.queue.mark_delivered(job.id, message_id):
            log.info("job %s delivered as message %s", job.id, message_id)
        self._shown.pop(job.id, None)
        self._failures.pop(job.id, None)

    def _upload_limit(self, job: Any) -> int:
        guild = self.bot.get_guild(job.guild_id) if job.guild_id else None
        return guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT

    async def _post_result(self, job: Any) -> int:
        images = await self.queue.get_images(job.id)
        pngs = [img.png for img in images]
        if job.kind is JobKind.UPSCALE:
            png, content, view = pngs[0], messages.result_upscale(job.spec.prompt, job.user_id,
                                                                     job.parent_index or 1), upscale_view(job.id)
        else:
            png = await asyncio.to_thread(grid_png, pngs)
            label = {JobKind.VARIATION: "Variations", JobKind.REROLL: "Re-roll"}.get(job.kind, "")
            content, view = messages.result_grid(job.spec.prompt, job.user_id, job.seed, label), grid_view(job.id)
        data, ext = await asyncio.to_thread(fit_under, png, self._upload_limit(job))
        file = discord.File(io.BytesIO(data), filename=f"{job.id}.{ext}")
        sent = await self._channel(job).send(
            content, file=file, view=view, nonce=job.id,
            allowed_mentions=discord.AllowedMentions(users=True, roles=False, everyone=False),
        )
        await self._remove_progress(job)
        return sent.id

    async def _post_ending(self, job: Any) -> int | None:
        text = (messages.cancelled(job.spec.prompt) if job.status is JobStatus.CANCELLED
                else messages.failed(job.spec.prompt, job.error or "The job failed."))
        if job.progress_message_id:
            msg = self._channel(job).get_partial_message(job.progress_message_id)
            await msg.edit(content=text, attachments=[])
            return int(job.progress_message_id)
        sent = await self._channel(job).send(f"<@{job.user_id}> {text}", nonce=job.id)
        return sent.id

    async def _remove_progress(self, job: Any) -> None:
        if not job.progress_message_id:
            return
        try:
            await self._channel(job).get_partial_message(job.progress_message_id).delete()
        except discord.HTTPException:
            pass


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Delivery(bot))
