"""Persistent result buttons: U1–U4, V1–V4, 🔄 on grids; Vary (Subtle) / Vary (Strong) on upscales.

Each button is a `DynamicItem` whose custom_id carries only the action, the job id and the image index;
everything else is loaded from the database when it is pressed, so buttons keep working after a restart
and on any bot replica. A press runs as the presser's own job, on their quota. A custom_id that is not
ours, or names a job this database does not know, gets a polite ephemeral refusal.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import messages
from bot.replies import Refusal, reply_ephemeral
from bot.submit import delivery_target, submit
from db.records import JobRecord
from imaginebot.core.domain import VARIATION_STRENGTHS, ImageRef, JobKind, JobStatus, VariationStrength

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

UPSCALE, VARY, REROLL, VARY_SUBTLE, VARY_STRONG = "u", "v", "r", "vsub", "vstr"
TEMPLATE = r"ib:(?P<action>u|v|r|vsub|vstr):(?P<job>[A-Za-z0-9_-]{1,40}):(?P<index>[0-4])"
LABELS = {VARY_SUBTLE: "Vary (Subtle)", VARY_STRONG: "Vary (Strong)", REROLL: "🔄"}
GRID_KINDS = (JobKind.IMAGINE, JobKind.REROLL, JobKind.VARIATION)


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """The job a button press asks for: its kind, source image and img2img strength (None: the default)."""

    kind: JobKind
    parent: ImageRef | None = None
    strength: float | None = None


def custom_id(action: str, job_id: str, index: int) -> str:
    return f"ib:{action}:{job_id}:{index}"


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    def __init__(self, action: str, job_id: str, index: int, *, row: int | None = None) -> None:
        self.action, self.job_id, self.index = action, job_id, index
        label = LABELS.get(action) or f"{action.upper()}{index}"
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.secondary, custom_id=custom_id(action, job_id, index),
                row=row,
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
            await self._press(bot, interaction)
        except Exception:
            log.exception("button %s on job %s failed", self.action, self.job_id)
            await reply_ephemeral(interaction, messages.internal_error())

    def _fits(self, job: JobRecord) -> bool:
        """Whether this action and index make sense for the job (a forged id may pair them wrongly)."""
        if self.action in (UPSCALE, VARY):
            return job.kind in GRID_KINDS and 1 <= self.index <= job.image_count
        if self.action == REROLL:
            return job.kind in GRID_KINDS
        return job.kind is JobKind.UPSCALE and self.index == 1

    async def _press(self, bot: ImagineBot, interaction: discord.Interaction) -> None:
        user_id = interaction.user.id

        async def make_jobs() -> list[JobRecord]:
            job = await self._source(bot, interaction)
            plan = self._plan(job)
            spec = job.spec if plan.kind is JobKind.UPSCALE else dataclasses.replace(job.spec, seed=None)
            return await bot.queue.admission.enqueue(
                user_id, [spec], kind=plan.kind, model=job.model, parent=plan.parent, strength=plan.strength,
                delivery=delivery_target(interaction),
            )

        await submit(bot, interaction, make_jobs)

    async def _source(self, bot: ImagineBot, interaction: discord.Interaction) -> JobRecord:
        """The job the button belongs to, if the press is valid (else Refusal: never trust a custom_id)."""
        job = await bot.queue.reads.find_job(self.job_id)
        if job is None or not self._fits(job):
            raise Refusal(messages.unknown_button())
        if job.channel_id is None or job.guild_id != interaction.guild_id:  # another guild, a DM, the CLI
            raise Refusal(messages.wrong_guild())
        if job.status is not JobStatus.SUCCEEDED:
            raise Refusal(messages.button_not_ready())
        return job

    def _plan(self, job: JobRecord) -> _Plan:
        """The job this press asks for."""
        if self.action == UPSCALE:
            return _Plan(JobKind.UPSCALE, ImageRef(job.id, self.index))
        if self.action == VARY:
            return _Plan(JobKind.VARIATION, ImageRef(job.id, self.index))
        if self.action == REROLL and job.kind is JobKind.VARIATION and job.parent_job_id and job.parent_index:
            # Re-rolling a grid of variations makes new variations of the same source image.
            return _Plan(JobKind.VARIATION, ImageRef(job.parent_job_id, job.parent_index), job.strength)
        if self.action == REROLL:
            return _Plan(JobKind.REROLL)
        mode = VariationStrength.SUBTLE if self.action == VARY_SUBTLE else VariationStrength.STRONG
        return _Plan(JobKind.VARIATION, ImageRef(job.id, 1), VARIATION_STRENGTHS[mode])


def grid_view(job_id: str) -> discord.ui.View:
    """U1–U4 on the first row, V1–V4 and 🔄 on the second."""
    view = discord.ui.View(timeout=None)
    for k in range(1, 5):
        view.add_item(JobButton(UPSCALE, job_id, k, row=0))
    for k in range(1, 5):
        view.add_item(JobButton(VARY, job_id, k, row=1))
    view.add_item(JobButton(REROLL, job_id, 0, row=1))
    return view


def upscale_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(VARY_SUBTLE, job_id, 1))
    view.add_item(JobButton(VARY_STRONG, job_id, 1))
    return view


class Buttons(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.pattern = re.compile(TEMPLATE)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A button or menu whose custom_id is not one of ours (forged, or from an older bot): refuse
        politely instead of leaving the user with "This interaction failed"."""
        if interaction.type is not discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        cid = str(data.get("custom_id", ""))
        if self.pattern.fullmatch(cid):
            return  # JobButton answers it
        log.info("refusing unknown component %r pressed by user %s", cid[:100], interaction.user.id)
        await reply_ephemeral(interaction, messages.unknown_button())


async def setup(bot: ImagineBot) -> None:
    bot.add_dynamic_items(JobButton)
    await bot.add_cog(Buttons(bot))
