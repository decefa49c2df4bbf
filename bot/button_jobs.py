"""From a button press (or the modal it opened) to the job it enqueues, for the presser, on their quota.

Every result button names an action and a job (see bot.cogs.buttons); this module says which actions
exist, which job kinds each belongs on, and what each one queues:

- on a grid (any kind but the upscales): `U<k>` upscales image k; `V<k>` makes variations of it; 🔄 makes
  the grid again with a new seed: /imagine's prompt again, variations of the same source image at the same
  strength, or the same edit (kind, source image and plan) of the same source for an edit's grid;
- on an upscaled image (U<k>, Upscale (Subtle)/(Creative)): the edits, built by
  `imaginebot.core.edit_jobs.edit_job` from the source's spec and the picture's stored size.

A new prompt (Remix, Custom Zoom, Vary (Region)) goes through `reprompt()`; only a zoom takes its `--ar`.
Nothing a custom id says is trusted: the job must exist, fit the action, be finished and belong to the
guild the press comes from (else `Refusal`). An edit that cannot be made (EditError) is a Refusal that
names the argument; nothing is queued or charged then.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot import messages
from bot.moderation import check_expanded, check_prompt
from bot.replies import Refusal
from bot.submit import delivery_for
from db.records import DeliveryTarget, JobRecord
from imaginebot.core.domain import ImageRef, JobKind, JobSpec, JobStatus
from imaginebot.core.edit_jobs import edit_job, reprompt
from imaginebot.core.edits import EditAction, EditError, EditPlan, cell_region
from imaginebot.core.gpu_time import FAST
from imaginebot.core.prompt import PromptError

if TYPE_CHECKING:
    from bot.client import ImagineBot

UPSCALE, VARY, REROLL = "u", "v", "r"
GRID_ACTIONS = (UPSCALE, VARY, REROLL)
VARY_REGION, CUSTOM_ZOOM = "vreg", "zc"
# The edits of an upscaled image: action code in the custom id -> (edit, zoom).
EDITS: dict[str, tuple[EditAction, float | None]] = {
    "us": (EditAction.UPSCALE_SUBTLE, None),
    "uc": (EditAction.UPSCALE_CREATIVE, None),
    "vsub": (EditAction.VARY_SUBTLE, None),
    "vstr": (EditAction.VARY_STRONG, None),
    VARY_REGION: (EditAction.VARY_REGION, None),
    "z2": (EditAction.ZOOM_OUT, 2.0),
    "z15": (EditAction.ZOOM_OUT, 1.5),
    CUSTOM_ZOOM: (EditAction.ZOOM_OUT, None),
    "sq": (EditAction.MAKE_SQUARE, None),
    "pl": (EditAction.PAN_LEFT, None),
    "pr": (EditAction.PAN_RIGHT, None),
    "pu": (EditAction.PAN_UP, None),
    "pd": (EditAction.PAN_DOWN, None),
}
ACTIONS = (*GRID_ACTIONS, *EDITS)
# With Remix mode on, these ask for the prompt first (Custom Zoom and Vary (Region) always ask).
REMIXABLE = frozenset({VARY, REROLL, "vsub", "vstr", "z2", "z15", "pl", "pr", "pu", "pd"})
CELLS = 9  # Vary (Region)'s picker: the image's ninths, row by row; a selection is a 9-bit mask
FULL_MASK = (1 << CELLS) - 1


@dataclass(frozen=True, slots=True)
class Ask:
    """What a press (and its modal) asks for. `index` is the image of a grid button (0 for 🔄, 1 for an
    edit); `cells` the picker's mask for Vary (Region); `prompt` a new prompt; `zoom` Custom Zoom's field
    as typed."""

    action: str
    job_id: str
    index: int = 1
    cells: int = 0
    prompt: str | None = None
    zoom: str | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    """The arguments of the one enqueue a press makes."""

    kind: JobKind
    spec: JobSpec
    parent: ImageRef | None  # None: a re-roll of /imagine, made from text alone
    strength: float | None = None
    edit: EditPlan | None = None


def cells_of(mask: int) -> list[int]:
    return [c for c in range(CELLS) if mask >> c & 1]


def fits(action: str, job: JobRecord, index: int) -> bool:
    """Whether the action and index make sense for the job (a forged id may pair them wrongly)."""
    if action in (UPSCALE, VARY):
        return job.kind.is_grid and 1 <= index <= job.image_count
    if action == REROLL:
        return job.kind.is_grid
    return action in EDITS and job.kind.is_upscale and index == 1


async def source_job(bot: ImagineBot, interaction: discord.Interaction, action: str, job_id: str,
                     index: int) -> JobRecord:
    """The job the press names, if the press is valid (else Refusal: never trust a custom id)."""
    job = await bot.queue.reads.find_job(job_id)
    if job is None or not fits(action, job, index):
        raise Refusal(messages.unknown_button())
    # A private job (/settings private) is pressed in the DM it was delivered to, by its owner alone.
    in_its_dm = interaction.guild_id is None and job.channel_id == interaction.channel_id
    if job.channel_id is None or (job.guild_id != interaction.guild_id and not in_its_dm):
        raise Refusal(messages.wrong_guild())  # another guild, a DM, the CLI
    if job.status is not JobStatus.SUCCEEDED:
        raise Refusal(messages.button_not_ready())
    return job


def prompt_text(spec: JobSpec) -> str:
    """The prompt a Remix / Custom Zoom / Vary (Region) modal starts with: the text and its `--no`."""
    negative = f" --no {spec.negative_prompt}" if spec.negative_prompt else ""
    return spec.prompt + negative


async def enqueue_for(bot: ImagineBot, interaction: discord.Interaction, ask: Ask) -> list[JobRecord]:
    """Check the press, build its job and enqueue it for the presser (QueueRefusal, PromptError and
    Refusal are the user's errors, see bot.submit)."""
    user_id = interaction.user.id
    job = await source_job(bot, interaction, ask.action, ask.job_id, ask.index)
    spec, ar = job.spec, None
    defaults = await bot.queue.admission.get_settings(user_id)  # the presser's: prompt, mode, privacy
    if ask.prompt is not None:
        try:
            spec, ar = reprompt(job.spec, ask.prompt, bot.limits, defaults)
        except PromptError:
            await check_prompt(bot, interaction, ask.prompt)  # a banned word is refused first
            raise
        # A Remix / zoom / region prompt is moderated too, with the /prefer suffix and options in it.
        await check_expanded(bot, interaction, ask.prompt, [spec])
    if ask.action in GRID_ACTIONS:
        plan = _grid_job(ask, job, spec)
    else:
        plan = await _edit_job(bot, ask, job, spec, ar)
    spec = plan.spec
    if ask.prompt is None:  # a plain press runs in the presser's current mode (a prompt may say --turbo…)
        spec = dataclasses.replace(spec, mode=defaults.mode or FAST)
    return await bot.queue.admission.enqueue(
        user_id, [spec], kind=plan.kind, model=job.model, parent=plan.parent, strength=plan.strength,
        edit=plan.edit, delivery=await _delivery(interaction, job, defaults.private),
        inputs_of=_keeps_inputs(plan.kind, job),
    )


async def _delivery(interaction: discord.Interaction, job: JobRecord, private: bool | None) -> DeliveryTarget:
    """The presser's channel, or their DM in private mode; a press in a private job's DM keeps the job's
    server."""
    target = await delivery_for(interaction, private)
    if interaction.guild_id is None and job.guild_id is not None:
        target = dataclasses.replace(target, guild_id=job.guild_id)
    return target


def _keeps_inputs(kind: JobKind, job: JobRecord) -> str | None:
    """🔄 and V keep the grid's image prompts (and their embeddings: not encoded again); a --cn grid's
    control map only for a re-roll (a variation starts from the picture itself)."""
    if kind is JobKind.REROLL or (kind is JobKind.VARIATION and not job.spec.cn):
        return job.id
    return None


def _grid_job(ask: Ask, job: JobRecord, spec: JobSpec) -> _Job:
    new_seed = dataclasses.replace(spec, seed=None)
    if ask.action == UPSCALE:
        return _Job(JobKind.UPSCALE, job.spec, ImageRef(job.id, ask.index))
    if ask.action == VARY:
        return _Job(JobKind.VARIATION, new_seed, ImageRef(job.id, ask.index))
    if job.kind is JobKind.REROLL or job.kind is JobKind.IMAGINE:
        return _Job(JobKind.REROLL, new_seed, None)
    # Re-rolling a grid made from an image (variations, an edit): the same pass over the same source
    # image, with the same strength and geometry, and a new seed.
    if job.parent_job_id is None or job.parent_index is None:
        raise Refusal(messages.unknown_button())  # made from a file (the CLI): no image to go back to
    parent = ImageRef(job.parent_job_id, job.parent_index)
    return _Job(job.kind, new_seed, parent, job.strength, job.edit)


async def _edit_job(bot: ImagineBot, ask: Ask, job: JobRecord, spec: JobSpec, ar: str | None) -> _Job:
    action, zoom = EDITS[ask.action]
    if ask.action == CUSTOM_ZOOM:
        zoom = _zoom(ask.zoom or "")
    image = await bot.queue.reads.get_image(job.id, 1)
    if image is None:
        pruned = await bot.queue.retention.images_pruned(job.id)
        keep_days = bot.settings.storage.keep_days
        raise Refusal(messages.image_pruned(keep_days) if pruned else messages.button_not_ready())
    try:
        ej = edit_job(
            action, spec, source_pixels=(image.width, image.height),
            base_resolution=bot.limits.base_resolution, zoom=zoom,
            ar=ar if action is EditAction.ZOOM_OUT else None,  # other edits ignore a typed --ar
            regions=[cell_region(c) for c in cells_of(ask.cells)],
        )
    except EditError as err:
        raise Refusal(messages.edit_refused(err.argument, err.message)) from None
    return _Job(ej.kind, ej.spec, ImageRef(job.id, 1), ej.strength, ej.edit)


def _zoom(typed: str) -> float:
    """Custom Zoom's field: a number (its range is edit_job's to check and word)."""
    try:
        zoom = float(typed.strip().removesuffix("x").replace(",", "."))
    except ValueError:
        raise Refusal(messages.bad_zoom(typed)) from None
    if not math.isfinite(zoom):
        raise Refusal(messages.bad_zoom(typed))
    return zoom
