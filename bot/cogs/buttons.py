"""Persistent result buttons: U1–U4, V1–V4, 🔄 on grids; the edit buttons on upscaled images.

Each button is a `DynamicItem` whose custom_id carries only the action, the job id and the image index;
everything else is loaded from the database when it is pressed, so buttons keep working after a restart
and on any bot replica. A press runs as the presser's own job, on their quota (bot.button_jobs says what
each action queues). `Custom Zoom` and, with Remix mode on, V, 🔄, Vary and Zoom/Pan open a modal with the
prompt first; `Vary (Region)` opens a picker (bot.region). Modal submissions come back by custom id
(bot.modals). A custom_id that is not ours, or names a job this database does not know, gets a polite
ephemeral refusal.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import messages
from bot.button_jobs import (
    ACTIONS,
    CUSTOM_ZOOM,
    REMIXABLE,
    REROLL,
    UPSCALE,
    VARY,
    VARY_REGION,
    Ask,
    enqueue_for,
    prompt_text,
    source_job,
)
from bot.cancelling import CANCEL_TEMPLATE
from bot.modals import ask_modal, ask_of, in_time, send_modal
from bot.region import PICKER_ITEMS, PICKER_TEMPLATES, open_picker
from bot.replies import Refusal, reply_ephemeral
from bot.submit import submit
from db.records import JobRecord

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

TEMPLATE = rf"ib:(?P<action>{'|'.join(sorted(ACTIONS, key=len, reverse=True))}):" \
           r"(?P<job>[A-Za-z0-9_-]{1,40}):(?P<index>[0-4])"
LABELS = {
    REROLL: "🔄", "us": "Upscale (Subtle)", "uc": "Upscale (Creative)", "vsub": "Vary (Subtle)",
    "vstr": "Vary (Strong)", VARY_REGION: "Vary (Region)", "z2": "Zoom Out 2x", "z15": "Zoom Out 1.5x",
    CUSTOM_ZOOM: "Custom Zoom", "sq": "Make Square", "pl": "⬅️", "pr": "➡️", "pu": "⬆️", "pd": "⬇️",
}
EDIT_ROWS = (("us", "uc"), ("vsub", "vstr", VARY_REGION), ("z2", "z15", CUSTOM_ZOOM, "sq"),
             ("pl", "pr", "pu", "pd"))


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

    async def _press(self, bot: ImagineBot, interaction: discord.Interaction) -> None:
        ask = Ask(self.action, self.job_id, self.index)
        if self.action == VARY_REGION:
            await open_picker(bot, interaction, self.job_id)
            return
        remix_known = True
        if self.action == CUSTOM_ZOOM or self.action in REMIXABLE:
            try:
                modal = await in_time(interaction, self._modal(bot, interaction, ask))
            except Refusal as refusal:
                await reply_ephemeral(interaction, str(refusal))
                return
            except TimeoutError:
                if self.action == CUSTOM_ZOOM:
                    await reply_ephemeral(interaction, messages.busy())
                    return
                modal, remix_known = None, False  # too late for a modal: queue it, unless Remix is on
            if modal is not None:
                await send_modal(interaction, modal)
                return

        async def make_jobs() -> list[JobRecord]:
            if not remix_known and (await bot.queue.admission.get_settings(interaction.user.id)).remix:
                raise Refusal(messages.busy())
            return await enqueue_for(bot, interaction, ask)

        await submit(bot, interaction, make_jobs)

    async def _modal(
        self, bot: ImagineBot, interaction: discord.Interaction, ask: Ask
    ) -> discord.ui.Modal | None:
        """The modal this press opens (Custom Zoom always, the others with Remix mode on), else None."""
        async with bot.db_gate:
            if self.action != CUSTOM_ZOOM:
                if not (await bot.queue.admission.get_settings(interaction.user.id)).remix:
                    return None
            job = await source_job(bot, interaction, self.action, self.job_id, self.index)
        return ask_modal(ask, prompt_text(job.spec))


def grid_view(job_id: str) -> discord.ui.View:
    """U1–U4 on the first row, V1–V4 and 🔄 on the second."""
    view = discord.ui.View(timeout=None)
    for k in range(1, 5):
        view.add_item(JobButton(UPSCALE, job_id, k, row=0))
    for k in range(1, 5):
        view.add_item(JobButton(VARY, job_id, k, row=1))
    view.add_item(JobButton(REROLL, job_id, 0, row=1))
    return view


def edit_view(job: JobRecord) -> discord.ui.View:
    """An upscaled image's edits, four rows (INTERFACE.md "Editing an image"); Make Square only when the
    image is not square already."""
    square = job.spec.width == job.spec.height
    view = discord.ui.View(timeout=None)
    for row, actions in enumerate(EDIT_ROWS):
        for action in actions:
            if not (action == "sq" and square):
                view.add_item(JobButton(action, job.id, 1, row=row))
    return view


class Buttons(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.patterns = [re.compile(t) for t in (TEMPLATE, CANCEL_TEMPLATE, *PICKER_TEMPLATES)]

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.modal_submit:
            await self._modal_submitted(interaction)
            return
        if interaction.type is not discord.InteractionType.component:
            return
        # A button or menu whose custom_id is not one of ours (forged, or from an older bot): refuse
        # politely instead of leaving the user with "This interaction failed".
        data: dict[str, Any] = dict(interaction.data or {})
        cid = str(data.get("custom_id", ""))
        if any(p.fullmatch(cid) for p in self.patterns):
            return  # a DynamicItem answers it
        log.info("refusing unknown component %r pressed by user %s", cid[:100], interaction.user.id)
        await reply_ephemeral(interaction, messages.unknown_button())

    async def _modal_submitted(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        ask = ask_of(data)
        if ask is None:
            if str(data.get("custom_id", "")).startswith("ib:"):  # ours, but forged or from an older bot
                log.info("refusing an unknown modal submitted by user %s", interaction.user.id)
                await reply_ephemeral(interaction, messages.unknown_button())
            return
        try:
            await submit(self.bot, interaction, lambda: enqueue_for(self.bot, interaction, ask))
        except Exception:
            log.exception("modal %s on job %s failed", ask.action, ask.job_id)
            await reply_ephemeral(interaction, messages.internal_error())


async def setup(bot: ImagineBot) -> None:
    bot.add_dynamic_items(JobButton, *PICKER_ITEMS)
    await bot.add_cog(Buttons(bot))
