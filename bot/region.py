"""Vary (Region)'s picker: an ephemeral 3×3 grid of toggle buttons over the image's ninths, Submit, Cancel.

The selection lives in the custom ids, not in memory: every button carries the job id and the current
9-bit mask of chosen cells (bit c = cell c, row by row), so the picker works across restarts and replicas.
A toggle answers with the picker redrawn for the new mask (UPDATE_MESSAGE; no database involved);
Submit opens the prompt modal (bot.modals) whose submission queues the VARY_REGION job; Cancel closes it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot import messages
from bot.button_jobs import CELLS, FULL_MASK, VARY_REGION, Ask, cells_of, prompt_text, source_job
from bot.modals import JOB_ID, ask_modal, in_time, send_modal
from bot.replies import Refusal, ack_budget, defer_privately, reply_ephemeral

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

CELL_LABELS = ("Top left", "Top", "Top right", "Left", "Centre", "Right", "Bottom left", "Bottom",
               "Bottom right")
SUBMIT_LABEL, CANCEL_LABEL = "Submit", "Cancel"
CELL_TEMPLATE = rf"ib:rg:(?P<job>{JOB_ID}):(?P<mask>\d{{1,3}}):(?P<cell>[0-8])"
SUBMIT_TEMPLATE = rf"ib:rgs:(?P<job>{JOB_ID}):(?P<mask>\d{{1,3}})"
CANCEL_TEMPLATE = rf"ib:rgx:(?P<job>{JOB_ID})"
PICKER_TEMPLATES = (CELL_TEMPLATE, SUBMIT_TEMPLATE, CANCEL_TEMPLATE)


def _mask(text: str) -> int:
    """A mask from a custom id; anything out of range (forged) reads as nothing chosen."""
    value = int(text)
    return value if 0 <= value <= FULL_MASK else 0


class RegionCell(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CELL_TEMPLATE):
    """One ninth of the image: pressed, it toggles its bit and redraws the picker."""

    def __init__(self, job_id: str, mask: int, cell: int) -> None:
        self.job_id, self.mask, self.cell = job_id, mask, cell
        chosen = bool(mask >> cell & 1)
        super().__init__(discord.ui.Button(
            label=CELL_LABELS[cell], row=cell // 3, custom_id=f"ib:rg:{job_id}:{mask}:{cell}",
            style=discord.ButtonStyle.success if chosen else discord.ButtonStyle.secondary,
            emoji="✅" if chosen else None,
        ))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RegionCell:
        return cls(match["job"], _mask(match["mask"]), int(match["cell"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        mask = self.mask ^ (1 << self.cell)
        try:
            await interaction.response.edit_message(
                content=messages.region_picker(len(cells_of(mask))), view=picker_view(self.job_id, mask))
        except discord.HTTPException as exc:
            log.info("job %s: could not redraw the region picker (%s)", self.job_id, exc)


class RegionSubmit(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SUBMIT_TEMPLATE):
    """Submit: with at least one cell chosen, the prompt modal; else a refusal."""

    def __init__(self, job_id: str, mask: int) -> None:
        self.job_id, self.mask = job_id, mask
        super().__init__(discord.ui.Button(
            label=SUBMIT_LABEL, row=3, style=discord.ButtonStyle.primary,
            custom_id=f"ib:rgs:{job_id}:{mask}"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RegionSubmit:
        return cls(match["job"], _mask(match["mask"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ImagineBot = interaction.client  # type: ignore[assignment]
        if self.mask == 0:
            await reply_ephemeral(interaction, messages.region_empty())
            return
        ask = Ask(VARY_REGION, self.job_id, 1, cells=self.mask)
        try:
            modal = await in_time(interaction, _prompt_modal(bot, interaction, ask))
        except Refusal as refusal:
            await reply_ephemeral(interaction, str(refusal))
            return
        except TimeoutError:
            await reply_ephemeral(interaction, messages.busy())
            return
        except Exception:
            log.exception("region picker of job %s failed", self.job_id)
            await reply_ephemeral(interaction, messages.internal_error())
            return
        await send_modal(interaction, modal)


class RegionCancel(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CANCEL_TEMPLATE):
    """Cancel: the picker becomes a short notice without buttons."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(discord.ui.Button(
            label=CANCEL_LABEL, row=3, style=discord.ButtonStyle.secondary, custom_id=f"ib:rgx:{job_id}"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RegionCancel:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.edit_message(content=messages.region_cancelled(), view=None)
        except discord.HTTPException as exc:
            log.info("job %s: could not close the region picker (%s)", self.job_id, exc)


PICKER_ITEMS = (RegionCell, RegionSubmit, RegionCancel)


def picker_view(job_id: str, mask: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for cell in range(CELLS):
        view.add_item(RegionCell(job_id, mask, cell))
    view.add_item(RegionSubmit(job_id, mask))
    view.add_item(RegionCancel(job_id))
    return view


async def _prompt_modal(bot: ImagineBot, interaction: discord.Interaction, ask: Ask) -> discord.ui.Modal:
    async with bot.db_gate:
        job = await source_job(bot, interaction, VARY_REGION, ask.job_id, 1)
    return ask_modal(ask, prompt_text(job.spec))


async def open_picker(bot: ImagineBot, interaction: discord.Interaction, job_id: str) -> None:
    """The `Vary (Region)` button: check the source job, then show the picker to the presser alone."""

    async def check() -> None:
        async with bot.db_gate:
            await source_job(bot, interaction, VARY_REGION, job_id, 1)

    task = asyncio.ensure_future(check())
    done, _ = await asyncio.wait({task}, timeout=ack_budget(interaction))
    if not done:
        await defer_privately(interaction)  # an ephemeral "thinking…" that becomes the picker
    try:
        await task
    except Refusal as refusal:
        await reply_ephemeral(interaction, str(refusal))
        return
    content, view = messages.region_picker(0), picker_view(job_id, 0)
    if interaction.response.is_done():
        await interaction.edit_original_response(content=content, view=view)
    else:
        await interaction.response.send_message(content, view=view, ephemeral=True)
