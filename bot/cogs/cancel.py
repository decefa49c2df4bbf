"""/cancel [job], and the persistent Cancel button of progress messages (bot.cancelling does the work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cancelling import CancelButton, cancel_job
from bot.replies import answer_privately

if TYPE_CHECKING:
    from bot.client import ImagineBot


class Cancel(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="cancel", description="Cancel a queued or running job; its quota is refunded")
    @app_commands.describe(job="the job id (see /info); without it, your newest queued or running job")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        self.bot.note_interaction(interaction)
        job_id = job.strip() or None if job is not None else None
        await answer_privately(interaction, cancel_job(self.bot, interaction, job_id))


async def setup(bot: ImagineBot) -> None:
    bot.add_dynamic_items(CancelButton)
    await bot.add_cog(Cancel(bot))
