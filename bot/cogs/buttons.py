"""Persistent result buttons: U1–U4, V1–V4, 🔄 on grids; Vary (Subtle) / Vary (Strong) on upscales.

Each button is a `DynamicItem` whose custom_id carries only the action, the job id and the image index;
everything else is loaded from the database when it is pressed, so buttons keep working after a restart
and on any bot replica. A press runs as the presser's own job, on their quota.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import messages
from bot.submit import reply_ephemeral, submit
from imaginebot.domain import VARIATION_STRENGTHS, UPSCALE_STRENGTH, JobKind, JobStatus, VariationStrength

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

UPSCALE, VARY, REROLL, VARY_SUBTLE, VARY_STRONG = "u", "v", "r", "vsub", "vstr"
TEMPLATE = r"ib:(?P<action>u|v|r|vsub|vstr):(?P<job>[A-Za-z0-9_-]{1,40}):(?P<index>[0-4])"


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    def __init__(self, action: str, job_id: str, index: int) -> None:
        self.action, self.job_id, self.index = action, job_id, index
        super().__init__(
            discord.ui.Button(
                label=_label(action, index),
                style=discord.ButtonStyle.secondary,
                custom_id=f"ib:{action}:{job_id}:{index}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        return cls(match["action"], match["job"], int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ImagineBot = interaction.client  # type: ignore[assignment]
        try:
            await self._run(bot, interaction)
        except Exception:
            log.exception("button %s on job %s failed", self.action, self.job_id)
            await reply_ephemeral(interaction, messages.internal_error())

    async def _run(self, bot: ImagineBot, interaction: discord.Interaction) -> None:
        job = await bot.queue.get_job(self.job_id)
        if job is None:
            await reply_ephemeral(interaction, messages.unknown_button())
            return
        if job.guild_id is not None and job.guild_id != interaction.guild_id:
            await reply_ephemeral(interaction, messages.wrong_guild())
            return
        if job.status is not JobStatus.SUCCEEDED or self.index > job.image_count:
            await reply_ephemeral(interaction, messages.button_not_ready())
            return
        fresh_seed = dataclasses.replace(job.spec, seed=None)
        if self.action == UPSCALE:
            await submit(bot, interaction, [job.spec], kind=JobKind.UPSCALE,
                         parent=(job.id, self.index), strength=UPSCALE_STRENGTH)
        elif self.action == REROLL and job.kind is JobKind.VARIATION and job.parent_job_id:
            # Re-rolling a grid of variations makes new variations of the same source image.
            await submit(bot, interaction, [fresh_seed], kind=JobKind.VARIATION,
                         parent=(job.parent_job_id, job.parent_index or 1), strength=job.strength)
        elif self.action == REROLL:
            await submit(bot, interaction, [fresh_seed], kind=JobKind.REROLL)
        else:
            mode = VariationStrength.SUBTLE if self.action == VARY_SUBTLE else VariationStrength.STRONG
            await submit(bot, interaction, [fresh_seed], kind=JobKind.VARIATION,
                         parent=(job.id, self.index or 1), strength=VARIATION_STRENGTHS[mode])


def _label(action: str, index: int) -> str:
    return {
        UPSCALE: f"U{index}",
        VARY: f"V{index}",
        REROLL: "🔄",
        VARY_SUBTLE: "Vary (Subtle)",
        VARY_STRONG: "Vary (Strong)",
    }[action]


def grid_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for k in range(1, 5):
        view.add_item(JobButton(UPSCALE, job_id, k).item)
    for k in range(1, 5):
        view.add_item(JobButton(VARY, job_id, k).item)
    view.add_item(JobButton(REROLL, job_id, 0).item)
    for n, child in enumerate(view.children):
        child.row = 0 if n < 4 else 1  # type: ignore[attr-defined]
    return view


def upscale_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(VARY_SUBTLE, job_id, 1).item)
    view.add_item(JobButton(VARY_STRONG, job_id, 1).item)
    return view


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(JobButton)
