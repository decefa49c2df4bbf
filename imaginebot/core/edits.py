"""The geometry of Midjourney's edits: Zoom Out, Pan, Make Square, Vary (Region), Upscale (Subtle/Creative).

Pure arithmetic, no torch and no Pillow: given the source's size and the edit, an `EditPlan` says the
output size, where the source (resized) is placed on the canvas, and which boxes are regenerated. The
engine (gen/) runs the inpainting pipeline with that mask and pastes the source back into the kept area;
`imaginebot.core.edit_images` renders the canvas and masks with Pillow. Sizes follow INTERFACE.md,
"Editing an image":

- Zoom Out z (1.0–2.0): the output has the source's size (or, with an `--ar`, about the source's area at
  that aspect); the source, scaled down by z, sits in the centre; the border is regenerated.
- Pan: the canvas grows by half the source's size in one direction; the output has an area of about
  `base_resolution`² at the new aspect (sides multiples of 8); the source, scaled to fit, keeps the side
  opposite the new area. Refused when the result would be longer than 4:1.
- Make Square: a square of about `base_resolution`² around the centred source.
- Vary (Region): the source's size; only the chosen boxes (fractions of the source) are regenerated.
- Upscale (Subtle/Creative): twice the source's pixels, refused beyond 4096 px a side.

"The source's size" of a job is its generation size (`JobSpec.width/height`): an upscaled image is the
twice-as-large picture of a grid image, and zooming out of it gives an image of the grid's size again.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from imaginebot.core.sizes import MAX_ASPECT, area_size, aspect_ratio, round8

MAX_SIDE = 4096  # an upscale's output, per side
MIN_ZOOM, MAX_ZOOM = 1.0, 2.0
SEAM = 8  # pixels of the kept area blended with the regenerated one at their border
UPSCALE_STRENGTHS = {"subtle": 0.2, "creative": 0.45}


class EditAction(enum.StrEnum):
    """What `imaginebot edit SOURCE ACTION` and the edit buttons ask for."""

    UPSCALE = "upscale"
    VARIATIONS = "variations"
    VARY_SUBTLE = "vary-subtle"
    VARY_STRONG = "vary-strong"
    VARY_REGION = "vary-region"
    UPSCALE_SUBTLE = "upscale-subtle"
    UPSCALE_CREATIVE = "upscale-creative"
    ZOOM_OUT = "zoom-out"
    PAN_LEFT = "pan-left"
    PAN_RIGHT = "pan-right"
    PAN_UP = "pan-up"
    PAN_DOWN = "pan-down"
    MAKE_SQUARE = "make-square"

    @property
    def is_pan(self) -> bool:
        return self in (EditAction.PAN_LEFT, EditAction.PAN_RIGHT, EditAction.PAN_UP, EditAction.PAN_DOWN)

    @property
    def is_outpaint(self) -> bool:
        return self.is_pan or self in (EditAction.ZOOM_OUT, EditAction.MAKE_SQUARE)

    @property
    def is_inpaint(self) -> bool:
        """Runs through the inpainting pipeline (a mask; kept pixels pasted back)."""
        return self.is_outpaint or self is EditAction.VARY_REGION

    @property
    def is_upscale_again(self) -> bool:
        return self in (EditAction.UPSCALE_SUBTLE, EditAction.UPSCALE_CREATIVE)


class EditError(ValueError):
    """An edit that cannot be made: `argument` names what to change (for the one-line message)."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument
        self.message = message


class Box(NamedTuple):
    """A rectangle in output pixels: left and top inclusive, right and bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def grow(self, by: int, width: int, height: int) -> Box:
        """This box widened by `by` pixels on every side, clipped to a width×height canvas."""
        return Box(
            max(0, self.left - by),
            max(0, self.top - by),
            min(width, self.right + by),
            min(height, self.bottom + by),
        )

    def contains(self, x: int, y: int) -> bool:
        return self.left <= x < self.right and self.top <= y < self.bottom


@dataclass(frozen=True, slots=True)
class EditPlan:
    """One edit of one source: the output canvas, where the source goes, what is regenerated.

    `place` is where the source, resized to the box's size, is pasted (the whole canvas for Vary (Region)
    and the upscales). Every pixel outside `regenerate` keeps the pasted source's value, except for a
    `SEAM`-pixel band next to a regenerated box, where the two are blended.
    """

    action: EditAction
    width: int
    height: int
    place: Box
    regenerate: tuple[Box, ...] = ()
    zoom: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def aspect_ratio(self) -> str:
        return aspect_ratio(self.width, self.height)

    def is_kept(self, x: int, y: int) -> bool:
        """Whether pixel (x, y) holds the source's own value (outside every regenerated box and seam).

        Only for the inpainting edits: an upscale has no box (`regenerate` is empty) and re-renders
        every pixel at its strength, so nothing of it is "kept" in this sense."""
        return not any(b.grow(SEAM, self.width, self.height).contains(x, y) for b in self.regenerate)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "width": self.width,
            "height": self.height,
            "place": list(self.place),
            "regenerate": [list(b) for b in self.regenerate],
            "zoom": self.zoom,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EditPlan:
        return cls(
            EditAction(data["action"]),
            int(data["width"]),
            int(data["height"]),
            Box(*(int(v) for v in data["place"])),
            tuple(Box(*(int(v) for v in b)) for b in data.get("regenerate", ())),
            float(data["zoom"]) if data.get("zoom") is not None else None,
        )


# --- helpers -------------------------------------------------------------------------------------


def _parse_ratio(text: str) -> float:
    try:
        w_text, h_text = text.split(":")
        w, h = int(w_text), int(h_text)
    except ValueError:
        raise EditError("--ar", f"{text!r} is not W:H with whole numbers (e.g. 3:2)") from None
    if w <= 0 or h <= 0:
        raise EditError("--ar", f"{text!r}: both sides must be positive")
    return w / h


def _check_aspect(width: float, height: float, argument: str) -> None:
    ratio = max(width / height, height / width)
    if ratio > MAX_ASPECT + 1e-9:
        wide = width > height
        # The ratio in whole numbers (the sides may be fractions, e.g. an --ar of 9:2 as 4.5 and 1.0).
        shown = aspect_ratio(round(ratio * 1000), 1000) if wide else aspect_ratio(1000, round(ratio * 1000))
        limit = "4:1" if wide else "1:4"
        raise EditError(
            argument, f"the result would be {'wider' if wide else 'taller'} than {limit} ({shown})"
        )


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _border(width: int, height: int, place: Box) -> tuple[Box, ...]:
    """The canvas minus `place`, as up to four boxes (top and bottom bands full width)."""
    boxes = [
        Box(0, 0, width, place.top),
        Box(0, place.bottom, width, height),
        Box(0, place.top, place.left, place.bottom),
        Box(place.right, place.top, width, place.bottom),
    ]
    return tuple(b for b in boxes if b.area > 0)


# --- the edits -----------------------------------------------------------------------------------


def zoom_out(source: tuple[int, int], zoom: float, *, ar: str | None = None) -> EditPlan:
    """Zoom Out 2x / 1.5x / Custom Zoom: the source scaled down by `zoom`, centred, the border regenerated."""
    if not (MIN_ZOOM <= zoom <= MAX_ZOOM) or math.isnan(zoom):
        raise EditError("--zoom", f"{zoom:g} is out of range: use a number from 1.0 to 2.0")
    sw, sh = source
    if ar is None:
        width, height = sw, sh
    else:
        aspect = _parse_ratio(ar)
        _check_aspect(aspect, 1.0, "--ar")
        width, height = area_size(aspect, round(math.sqrt(sw * sh)))
    scale = min(width / sw, height / sh) / zoom
    pw, ph = _scaled(sw, sh, scale)
    left, top = (width - pw) // 2, (height - ph) // 2
    place = Box(left, top, left + pw, top + ph)
    border = _border(width, height, place)
    if not border:
        raise EditError(
            "--zoom",
            f"{zoom:g} with the source's own aspect ratio leaves nothing to fill: "
            "use a larger zoom or another --ar",
        )
    return EditPlan(EditAction.ZOOM_OUT, width, height, place, border, zoom=zoom)


def pan(source: tuple[int, int], action: EditAction, base_resolution: int) -> EditPlan:
    """⬅️ ➡️ ⬆️ ⬇️: the canvas grows by half the source in that direction; the source keeps the far side."""
    if not action.is_pan:
        raise ValueError(f"{action} is not a pan")
    sw, sh = source
    horizontal = action in (EditAction.PAN_LEFT, EditAction.PAN_RIGHT)
    cw, ch = (sw * 1.5, sh) if horizontal else (sw, sh * 1.5)
    _check_aspect(cw, ch, action.value)
    width, height = area_size(cw / ch, base_resolution)
    if horizontal:
        pw, ph = min(width - 8, round(sw * height / sh)), height
    else:
        pw, ph = width, min(height - 8, round(sh * width / sw))
    place = {
        EditAction.PAN_LEFT: Box(width - pw, 0, width, ph),
        EditAction.PAN_RIGHT: Box(0, 0, pw, ph),
        EditAction.PAN_UP: Box(0, height - ph, pw, height),
        EditAction.PAN_DOWN: Box(0, 0, pw, ph),
    }[action]
    return EditPlan(action, width, height, place, _border(width, height, place))


def make_square(source: tuple[int, int], base_resolution: int) -> EditPlan:
    """Make Square: a square canvas of about base_resolution², the whole source centred in it."""
    sw, sh = source
    if sw == sh:
        raise EditError("make-square", "the image is already square")
    side = round8(base_resolution)
    pw, ph = _scaled(sw, sh, side / max(sw, sh))
    left, top = (side - pw) // 2, (side - ph) // 2
    place = Box(left, top, left + pw, top + ph)
    border = _border(side, side, place)
    if not border:  # so nearly square that, scaled to the side, it fills the whole square
        raise EditError("make-square", "the image is already square")
    return EditPlan(EditAction.MAKE_SQUARE, side, side, place, border)


Region = tuple[float, float, float, float]  # left, top, right, bottom as fractions 0–1 of the source


def parse_region(text: str) -> Region:
    """`X0,Y0,X1,Y1` (fractions 0–1) as given to `--region`."""
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise EditError(
            "--region", f"{text!r} is not LEFT,TOP,RIGHT,BOTTOM (four fractions 0–1, e.g. 0.25,0,0.75,0.5)"
        )
    return values[0], values[1], values[2], values[3]


def cell_region(cell: int) -> Region:
    """The ninth of the image under picker cell `cell` (0–8, row by row)."""
    if not 0 <= cell <= 8:
        raise EditError("--region", f"cell {cell} does not exist (0–8)")
    row, col = divmod(cell, 3)
    return col / 3, row / 3, (col + 1) / 3, (row + 1) / 3


def vary_region(source: tuple[int, int], regions: Iterable[Region]) -> EditPlan:
    """Vary (Region): the source's size; the union of `regions` (snapped outwards to 8 px) regenerated."""
    width, height = source
    boxes: list[Box] = []
    for region in regions:
        x0, y0, x1, y1 = region
        if any(math.isnan(v) or not 0.0 <= v <= 1.0 for v in region):
            raise EditError("--region", "each value must be a fraction from 0 to 1")
        if not (x0 < x1 and y0 < y1):
            raise EditError("--region", "the region is empty or inverted: left < right and top < bottom")
        box = Box(
            _snap_down(x0 * width),
            _snap_down(y0 * height),
            min(width, _snap_up(x1 * width)),
            min(height, _snap_up(y1 * height)),
        )
        if box.area == 0:
            raise EditError("--region", "the region is smaller than a pixel")
        boxes.append(box)
    if not boxes:
        raise EditError("--region", "choose at least one part of the image")
    return EditPlan(EditAction.VARY_REGION, width, height, Box(0, 0, width, height), _merge(boxes))


# Fractions typed in decimal are not exact in binary (0.55 × 800 = 440.00000000000006): a value within
# a millionth of 8 px of a multiple of 8 is taken as that multiple, not snapped 8 px further out.
_SNAP_SLACK = 1e-6  # in units of 8 px


def _snap_down(pixels: float) -> int:
    return math.floor(pixels / 8 + _SNAP_SLACK) * 8


def _snap_up(pixels: float) -> int:
    return math.ceil(pixels / 8 - _SNAP_SLACK) * 8


def _merge(boxes: Sequence[Box]) -> tuple[Box, ...]:
    """Drop boxes contained in another (the union is unchanged); keep the order otherwise."""
    kept = []
    for i, b in enumerate(boxes):
        inside = any(
            j != i
            and o.left <= b.left
            and o.top <= b.top
            and o.right >= b.right
            and o.bottom >= b.bottom
            and (o != b or j < i)
            for j, o in enumerate(boxes)
        )
        if not inside:
            kept.append(b)
    return tuple(kept)


def upscale_again(source_pixels: tuple[int, int], action: EditAction) -> EditPlan:
    """Upscale (Subtle) / (Creative): twice the source's pixels; refused beyond MAX_SIDE a side."""
    if not action.is_upscale_again:
        raise ValueError(f"{action} is not an upscale")
    width, height = source_pixels[0] * 2, source_pixels[1] * 2
    if max(width, height) > MAX_SIDE:
        raise EditError(
            action.value,
            f"the result would be {width}×{height} px; upscales stop at {MAX_SIDE} px a side",
        )
    return EditPlan(action, width, height, Box(0, 0, width, height))


def upscale_strength(action: EditAction) -> float:
    return UPSCALE_STRENGTHS["subtle" if action is EditAction.UPSCALE_SUBTLE else "creative"]


def plan_edit(
    action: EditAction,
    *,
    source_size: tuple[int, int],
    source_pixels: tuple[int, int],
    base_resolution: int,
    zoom: float | None = None,
    ar: str | None = None,
    regions: Sequence[Region] = (),
) -> EditPlan | None:
    """The plan of any edit action, or None for those that need none (upscale, variations, vary-*).

    `source_size` is the source's generation size (a job's `JobSpec.width/height`; for a file,
    `working_size` of it), `source_pixels` the size of the source picture itself (an upscaled image is
    twice its generation size). Raises EditError naming the argument when the edit cannot be made.
    """
    if action is EditAction.ZOOM_OUT:
        return zoom_out(source_size, 2.0 if zoom is None else zoom, ar=ar)
    if action.is_pan:
        return pan(source_size, action, base_resolution)
    if action is EditAction.MAKE_SQUARE:
        return make_square(source_size, base_resolution)
    if action is EditAction.VARY_REGION:
        return vary_region(source_size, regions)
    if action.is_upscale_again:
        return upscale_again(source_pixels, action)
    return None
