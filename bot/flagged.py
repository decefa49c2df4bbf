"""What image moderation's verdicts (job_images.flagged, set on the worker by gen.safety) change in a
result's post: outside channels marked NSFW, a result with a flagged image goes out as a spoiler
(`moderation.nsfw_action = "spoiler"`), or the flagged images are withheld (`"block"`): a grid shows a
blank tile in their place, and a single image (an upscale) — or a grid of only flagged images — is not
posted at all; the message says so. In an NSFW channel everything is posted as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from db.records import JobImage
from imaginebot.core.images import open_image, png_bytes

WITHHELD_TILE = (54, 57, 63)  # a plain tile in Discord's dark grey, where a withheld image would be


@dataclass(frozen=True, slots=True)
class Shown:
    """The images to post (None: nothing to post) and how: `spoiler`, and which were `withheld`."""

    pngs: list[bytes] | None
    spoiler: bool = False
    withheld: tuple[int, ...] = ()  # 1-based indexes of the images not shown
    flagged: tuple[int, ...] = ()  # 1-based indexes of the flagged images (spoilered or withheld)


def shown(images: Sequence[JobImage], *, nsfw_channel: bool, action: str) -> Shown:
    """What of a job's images a channel gets, by their verdicts, the channel and `nsfw_action`."""
    pngs = [img.png for img in images]
    flagged = tuple(img.index for img in images if img.flagged)
    if not flagged or nsfw_channel:
        return Shown(pngs)
    if action != "block":
        return Shown(pngs, spoiler=True, flagged=flagged)
    if len(flagged) == len(images):
        return Shown(None, withheld=flagged, flagged=flagged)
    kept = [_blank(img.png) if img.flagged else img.png for img in images]
    return Shown(kept, withheld=flagged, flagged=flagged)


def _blank(png: bytes) -> bytes:
    """A plain tile the size of the image it stands for."""
    return png_bytes(Image.new("RGB", open_image(png).size, WITHHELD_TILE))
