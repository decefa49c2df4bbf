"""A job's source picture, and the size and strength of an img2img pass over it.

- Variation: the job's own size; its strength, else Vary (Subtle)'s.
- Upscale (U1…U4): twice the source picture's pixels; its strength, else UPSCALE_STRENGTH.
- Upscale (Subtle) / (Creative): the edit plan's size (twice the source's pixels; derived from the
  picture when a request carries no plan); its strength, else the action's (0.2 / 0.45).

A source that is missing or does not decode is a ValueError: bad input, which the engine fails for that
job alone instead of retrying.
"""

from __future__ import annotations

from PIL import Image, UnidentifiedImageError

from imaginebot.core.domain import (
    UPSCALE_FACTOR,
    UPSCALE_STRENGTH,
    VARIATION_STRENGTHS,
    GenRequest,
    JobKind,
    VariationStrength,
)
from imaginebot.core.edits import EditAction, upscale_again, upscale_strength

_UPSCALE_ACTIONS = {
    JobKind.UPSCALE_SUBTLE: EditAction.UPSCALE_SUBTLE,
    JobKind.UPSCALE_CREATIVE: EditAction.UPSCALE_CREATIVE,
}


def open_source(r: GenRequest) -> Image.Image:
    """The job's source picture as RGB; ValueError if it has none or it does not decode."""
    from imaginebot.core.images import open_image

    if r.source_png is None:
        raise ValueError(f"{r.kind.value} job {r.job_id} has no source image")
    try:
        return open_image(r.source_png)
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        # (Pillow's "cannot identify image file" names an in-memory object: no use to anyone.)
        reason = "an unknown image format" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise ValueError(
            f"{r.kind.value} job {r.job_id}: the source image does not decode ({reason})"
        ) from exc


def img2img_size(r: GenRequest, source: Image.Image) -> tuple[int, int]:
    """The output size of a variation or upscale of `source`."""
    if r.kind is JobKind.UPSCALE:
        return source.width * UPSCALE_FACTOR, source.height * UPSCALE_FACTOR
    action = _UPSCALE_ACTIONS.get(r.kind)
    if action is not None:
        return (r.edit or upscale_again(source.size, action)).size
    return r.spec.width, r.spec.height


def img2img_strength(r: GenRequest) -> float:
    """The job's strength, else its kind's default."""
    if r.strength is not None:
        return r.strength
    if r.kind is JobKind.UPSCALE:
        return UPSCALE_STRENGTH
    action = _UPSCALE_ACTIONS.get(r.kind)
    if action is not None:
        return upscale_strength(action)
    return VARIATION_STRENGTHS[VariationStrength.SUBTLE]
