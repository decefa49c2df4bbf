"""/fast, /relax and /turbo: the caller's default speed mode (a prompt's --fast/--relax/--turbo still wins).

Turbo jobs are claimed first and cost quota.turbo_factor × their GPU time in Fast time; Fast is the default;
Relax costs no Fast time and runs when no Fast or Turbo work waits (at most queue.relax_max_wait behind).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, mode_messages
from bot.replies import answer_privately
from imaginebot.core.gpu_time import FAST, RELAX, TURBO

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)


class Modes(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="fast", description="Make Fast mode your default: jobs run in turn")
    async def fast(self, interaction: discord.Interaction) -> None:
        await answer_privately(interaction, self._set_mode(interaction.user.id, FAST))

    @app_commands.command(
        name="relax", description="Make Relax mode your default: costs no Fast time, runs when free"
    )
    async def relax(self, interaction: discord.Interaction) -> None:
        await answer_privately(interaction, self._set_mode(interaction.user.id, RELAX))

    @app_commands.command(name="turbo", description="Make Turbo mode your default: first in line, costs more")
    async def turbo(self, interaction: discord.Interaction) -> None:
        await answer_privately(interaction, self._set_mode(interaction.user.id, TURBO))

    async def _set_mode(self, user_id: int, mode: str) -> str:
        try:
            admission = self.bot.queue.admission
            settings = await admission.get_settings(user_id)
            await admission.set_settings(user_id, replace(settings, mode=mode))
            info = await self.bot.queue.reads.quota_info(user_id)
            quota = self.bot.settings.quota
            return mode_messages.mode_set(mode, info, quota.turbo_factor, quota.relax_enabled)
        except Exception:
            log.exception("/%s failed for user %s", mode, user_id)
            return messages.internal_error()


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Modes(bot))
