"""From "this edit of that image" to the job to enqueue: its kind, spec, geometry and strength.

One place for the rules that the edit buttons and `imaginebot edit` share:

- The edit starts from the source job's spec (prompt, steps, guidance, …). A new prompt (Remix, the
  Custom Zoom and Vary (Region) modals, `--prompt`) replaces its text, negative prompt and weights; the
  other parameters in that text are ignored, except `--ar` where the edit takes one (Custom Zoom).
- An edit's output size is its plan's; its `aspect_ratio` says the new shape. Upscales keep the source's
  spec (their size follows from the source picture).
- Seeds: U<k> keeps the source's seed (the same picture, larger); every other edit gets a new random
  seed unless one is given (image k then uses seed + k - 1, like any job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from imaginebot.core.domain import VARIATION_STRENGTHS, JobKind, JobSpec, UserDefaults, VariationStrength
from imaginebot.core.edits import MAX_SIDE, EditAction, EditError, EditPlan, Region, plan_edit
from imaginebot.core.prompt import ParserLimits, PromptError, parse_prompt


@dataclass(frozen=True, slots=True)
class EditJob:
    """What to enqueue for an edit (with the source image as its parent or file)."""

    action: EditAction
    kind: JobKind
    spec: JobSpec
    edit: EditPlan | None
    strength: float | None  # None: the kind's default


def _strength(action: EditAction) -> float | None:
    if action is EditAction.VARY_SUBTLE:
        return VARIATION_STRENGTHS[VariationStrength.SUBTLE]
    if action in (EditAction.VARY_STRONG, EditAction.VARIATIONS):
        return VARIATION_STRENGTHS[VariationStrength.STRONG]
    return None  # upscale: its default; upscale again: by its plan; inpainting: from noise


def reprompt(
    spec: JobSpec, text: str, limits: ParserLimits, defaults: UserDefaults | None = None
) -> tuple[JobSpec, str | None]:
    """`spec` with the prompt of `text` (a person's words, parameters allowed), and the `--ar` that text
    names (None when it names none). PromptError for text the prompt language refuses, or that expands
    into several prompts."""
    specs = parse_prompt(text, limits, defaults)
    if len(specs) != 1:
        raise PromptError("the new prompt must be one prompt (no {…} permutations or --repeat)")
    new = specs[0]
    ar = new.aspect_ratio if _names_ar(text) else None
    return dataclasses.replace(
        spec, prompt=new.prompt, negative_prompt=new.negative_prompt, weights=new.weights
    ), ar


def _names_ar(text: str) -> bool:
    words = text.replace("\u2014", "--").split()
    return any(w in ("--ar", "--aspect") for w in words)


def edit_job(
    action: EditAction,
    spec: JobSpec,
    *,
    source_pixels: tuple[int, int],
    base_resolution: int,
    zoom: float | None = None,
    ar: str | None = None,
    regions: Sequence[Region] = (),
    seed: int | None = None,
) -> EditJob:
    """The job for `action` on a source made with `spec` (for a file: a spec of its working size) whose
    picture is `source_pixels` large. EditError names the argument when the edit cannot be made."""
    if ar is not None and action is not EditAction.ZOOM_OUT:
        raise EditError("--ar", f"only Custom Zoom (zoom-out) takes an aspect ratio, not {action.value}")
    plan = plan_edit(
        action,
        source_size=(spec.width, spec.height),
        source_pixels=source_pixels,
        base_resolution=base_resolution,
        zoom=zoom,
        ar=ar,
        regions=regions,
    )
    kind = JobKind.for_action(action)
    if action is EditAction.UPSCALE and 2 * max(source_pixels) > MAX_SIDE:
        w, h = source_pixels
        raise EditError(
            action.value, f"the result would be {2 * w}×{2 * h} px; upscales stop at {MAX_SIDE} px a side"
        )
    if kind is JobKind.UPSCALE:
        new = spec if seed is None else dataclasses.replace(spec, seed=seed)
    elif plan is not None and kind.is_inpaint:
        new = dataclasses.replace(
            spec, width=plan.width, height=plan.height, aspect_ratio=plan.aspect_ratio, seed=seed
        )
    else:
        new = dataclasses.replace(spec, seed=seed)
    return EditJob(action, kind, new, plan, _strength(action))
