"""/show JOB_ID: post a finished job's result again in this channel, with working buttons (Midjourney's
/show).

Who may: the job's owner; a server manager for any job made on their server; an operator for any job.
The result reads as the original did (the grid with U1–U4, V1–V4 and 🔄, or the upscaled image with its
edit buttons). Buttons act only in the server where the job was made (INTERFACE.md), so a job made
elsewhere is shown without them, with a line saying why. An unknown id, someone else's job, a job not
finished, failed or cancelled, or one whose images the retention deleted gets one ephemeral message and
nothing is posted. Nothing is charged and the job itself is not touched.

The answer is the interaction's own public message when the checks are done within the ack budget
(a "thinking…" placeholder covers drawing the grid); when the database is slow the interaction is
deferred privately (a refusal must stay private), and the result is posted into the channel instead.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import flagged, messages, prefer_messages
from bot.cogs.buttons import edit_view, grid_view
from bot.permissions import is_admin, is_operator
from bot.replies import Refusal, ack_budget, defer_privately, reply_ephemeral
from db.records import JobImage, JobRecord
from imaginebot.core.domain import JobStatus
from imaginebot.core.images import fit_under, grid_png

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

SHOWN_MENTIONS = discord.AllowedMentions.none()  # a re-post pings nobody, the owner included


@dataclass(frozen=True)
class _Result:
    content: str
    png: bytes
    ext: str  # png, jpg or webp: what fit_under made of it
    view: discord.ui.View | None
    spoiler: bool = False  # image moderation flagged an image and this channel is not NSFW


class Show(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="show", description="Post a job's result again here, with its buttons")
    @app_commands.describe(job_id="the job's id (/info lists yours; it is the file name of its result)")
    async def show(self, interaction: discord.Interaction, job_id: app_commands.Range[str, 1, 100]) -> None:
        self.bot.note_interaction(interaction)
        wanted = job_id.strip()
        check = asyncio.ensure_future(self._checked(interaction, wanted))
        done, _ = await asyncio.wait({check}, timeout=ack_budget(interaction))
        in_time = bool(done)
        if not in_time:
            await defer_privately(interaction)
        try:
            job, images = await check
            if in_time:
                await interaction.response.defer(thinking=True)  # public: the result replaces it
            result = await self._result(interaction, job, images)
        except Refusal as refusal:
            await reply_ephemeral(interaction, str(refusal))
            return
        except Exception:
            log.exception("/show %s failed for user %s", wanted[:40], interaction.user.id)
            await reply_ephemeral(interaction, messages.internal_error())
            return
        await self._post(interaction, job, result, in_time)

    async def _checked(
        self, interaction: discord.Interaction, job_id: str
    ) -> tuple[JobRecord, list[JobImage]]:
        """The job and its images, if the caller may show it and it has them (else Refusal)."""
        async with self.bot.db_gate:
            job = await self.bot.queue.reads.find_job(job_id)
            if job is None:
                raise Refusal(prefer_messages.show_unknown(job_id))
            if not self._may_show(interaction, job):
                raise Refusal(prefer_messages.show_not_yours(job.id))
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                raise Refusal(prefer_messages.show_not_finished(job.id, job.status.value))
            if job.status is not JobStatus.SUCCEEDED:
                raise Refusal(prefer_messages.show_failed(job.id, job.status.value))
            images = await self.bot.queue.reads.get_images(job.id)
        if not images:  # a finished job without images: the retention deleted them
            raise Refusal(prefer_messages.show_pruned(job.id, self.bot.settings.storage.keep_days))
        return job, images

    def _may_show(self, interaction: discord.Interaction, job: JobRecord) -> bool:
        if job.user_id == interaction.user.id or is_operator(self.bot, interaction):
            return True
        moderator = is_admin(self.bot, interaction)  # Manage Server here: this server's jobs only
        return moderator and interaction.guild_id is not None and job.guild_id == interaction.guild_id

    async def _result(
        self, interaction: discord.Interaction, job: JobRecord, images: list[JobImage]
    ) -> _Result:
        """The result message as delivery first posted it (bot.delivery), its picture fitted under this
        guild's upload limit."""
        # Buttons refuse a press from another server, a DM or the CLI's jobs (bot.button_jobs.source_job).
        buttons_work = job.channel_id is not None and job.guild_id == interaction.guild_id
        # Image moderation holds here as in delivery: flagged images spoilered or withheld outside NSFW.
        is_nsfw = getattr(interaction.channel, "is_nsfw", None)
        nsfw = bool(is_nsfw()) if callable(is_nsfw) else False
        show = flagged.shown(images, nsfw_channel=nsfw, action=self.bot.settings.moderation.nsfw_action)
        if show.pngs is None:
            raise Refusal(messages.withheld_note(show.withheld, len(images)).strip())
        if job.kind.is_upscale:
            png = show.pngs[0]
            content = messages.result_upscale(job.spec.prompt, job.user_id, job.parent_index or 1, job.kind)
            view = edit_view(job) if buttons_work else None
        else:
            png = await asyncio.to_thread(grid_png, show.pngs)
            content = messages.result_grid(job.spec.prompt, job.user_id, job.seed, job.kind, job.edit)
            view = grid_view(job.id) if buttons_work else None
        if show.spoiler:
            content += messages.spoilered_note(show.flagged, len(images))
        if show.withheld:
            content += messages.withheld_note(show.withheld, len(images))
        if not buttons_work:
            content += "\n" + prefer_messages.show_elsewhere()
        encoded = await asyncio.to_thread(fit_under, png, self.bot.upload_limit(interaction.guild_id))
        return _Result(content, encoded.data, encoded.ext, view, show.spoiler)

    async def _post(
        self, interaction: discord.Interaction, job: JobRecord, result: _Result, public_answer: bool
    ) -> None:
        # Not `<job id>.png`: that name marks the delivered result (bot.posting.find_posted).
        def file() -> discord.File:
            return discord.File(io.BytesIO(result.png), filename=f"show-{job.id}.{result.ext}",
                                spoiler=result.spoiler)

        shown = result.view if result.view is not None else discord.utils.MISSING
        try:
            if public_answer:
                await interaction.edit_original_response(
                    content=result.content, attachments=[file()], view=shown, allowed_mentions=SHOWN_MENTIONS)
            else:
                channel = self.bot.get_partial_messageable(interaction.channel_id or 0,
                                                           guild_id=interaction.guild_id)
                await channel.send(result.content, file=file(), view=shown, allowed_mentions=SHOWN_MENTIONS)
                await reply_ephemeral(interaction, prefer_messages.show_posted(job.id))
        except discord.HTTPException as exc:
            log.warning("/show %s: could not post the result (%s)", job.id, exc)
            await reply_ephemeral(interaction, messages.internal_error())
        else:
            log.info("job %s shown again by user %s", job.id, interaction.user.id)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Show(bot))
