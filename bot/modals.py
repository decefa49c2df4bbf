"""The modals edit buttons open — Remix, Custom Zoom, Vary (Region) — kept out of memory like the buttons.

A modal's custom id carries the action, the job id and the press's argument (the image index, or the
Vary (Region) picker's cell mask): `ib:m:<action>:<job>:<arg>`. The modal is not registered with
discord.py's view store; its submission is read back from the custom id and the text inputs by
`bot.cogs.buttons` (`ask_of`), so a modal opened before a restart still works after it.

A modal must be the interaction's *first* answer (a deferred interaction cannot open one), so whatever
decides whether to open it (the user's Remix setting, the source job's prompt) has to be read within
Discord's 3 seconds: `in_time` gives that work until DECIDE_BY seconds after the interaction was made.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import discord

from bot import messages
from bot.button_jobs import ACTIONS, CUSTOM_ZOOM, FULL_MASK, VARY_REGION, Ask

T = TypeVar("T")

JOB_ID = r"[A-Za-z0-9_-]{1,40}"
MODAL_TEMPLATE = re.compile(rf"ib:m:(?P<action>[a-z0-9]{{1,5}}):(?P<job>{JOB_ID}):(?P<arg>\d{{1,3}})")
PROMPT, ZOOM = "prompt", "zoom"
PROMPT_MAX = 2000  # like /imagine's prompt option
DECIDE_BY = 2.0  # seconds after the interaction's creation; Discord allows 3 for the first answer


def modal_id(ask: Ask) -> str:
    arg = ask.cells if ask.action == VARY_REGION else ask.index
    return f"ib:m:{ask.action}:{ask.job_id}:{arg}"


def ask_modal(ask: Ask, prompt: str) -> discord.ui.Modal:
    """The modal for `ask`: the prompt (prefilled, editable), and for Custom Zoom the zoom too."""
    title = {CUSTOM_ZOOM: messages.ZOOM_TITLE, VARY_REGION: messages.REGION_TITLE}.get(
        ask.action, messages.REMIX_TITLE)
    modal = discord.ui.Modal(title=title, custom_id=modal_id(ask), timeout=None)
    modal.add_item(discord.ui.TextInput(
        label=messages.PROMPT_FIELD, custom_id=PROMPT, style=discord.TextStyle.paragraph,
        default=prompt[:PROMPT_MAX], max_length=PROMPT_MAX,
    ))
    if ask.action == CUSTOM_ZOOM:
        modal.add_item(discord.ui.TextInput(
            label=messages.ZOOM_FIELD, custom_id=ZOOM, default="2", max_length=10))
    return modal


async def send_modal(interaction: discord.Interaction, modal: discord.ui.Modal) -> None:
    # Stopped before it is sent: discord.py then keeps no copy, and the submission reaches the cog's
    # listener by its custom id alone (see the module's docstring).
    modal.stop()
    await interaction.response.send_modal(modal)


def ask_of(data: dict[str, Any]) -> Ask | None:
    """What a submitted modal asks for, or None when its custom id is not one of ours."""
    match = MODAL_TEMPLATE.fullmatch(str(data.get("custom_id", "")))
    if match is None or match["action"] not in ACTIONS:
        return None
    values = dict(_inputs(data.get("components") or []))
    action, arg = match["action"], int(match["arg"])
    if action == VARY_REGION:
        if arg > FULL_MASK:
            return None
        return Ask(action, match["job"], 1, cells=arg, prompt=values.get(PROMPT), zoom=values.get(ZOOM))
    return Ask(action, match["job"], arg, prompt=values.get(PROMPT), zoom=values.get(ZOOM))


def _inputs(components: list[Any]) -> Iterator[tuple[str, str]]:
    """(custom_id, value) of every text input in a submission (in action rows or labels)."""
    for node in components:
        if not isinstance(node, dict):
            continue
        if node.get("type") == 4 and "custom_id" in node:
            # U+0000: PostgreSQL cannot store it, and no person means it (as for slash options)
            yield str(node["custom_id"]), str(node.get("value") or "").replace("\x00", "\ufffd")
        yield from _inputs(node.get("components") or [])
        if isinstance(node.get("component"), dict):
            yield from _inputs([node["component"]])


async def in_time(interaction: discord.Interaction, work: Awaitable[T]) -> T:
    """`work`'s result, or TimeoutError once the interaction is DECIDE_BY seconds old."""
    age = (datetime.now(UTC) - interaction.created_at).total_seconds()
    return await asyncio.wait_for(work, timeout=max(0.05, DECIDE_BY - age))
