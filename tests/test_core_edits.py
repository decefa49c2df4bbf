"""The geometry of the edits (core/edits.py) and their pictures (core/edit_images.py), checked for what a
person sees: sizes, where the source lands, what is repainted and what keeps the source's own pixels
(INTERFACE.md, "Editing an image"). Pure arithmetic and Pillow; no torch."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from imaginebot.core.edit_images import FILL, canvas, inpaint_mask, paste_back, placed_source, seam_alpha
from imaginebot.core.edits import (
    MAX_SIDE,
    SEAM,
    Box,
    EditAction,
    EditError,
    EditPlan,
    Region,
    cell_region,
    make_square,
    pan,
    parse_region,
    plan_edit,
    upscale_again,
    upscale_strength,
    vary_region,
    zoom_out,
)
from imaginebot.core.prompt import dimensions
from imaginebot.core.sizes import area_size, aspect_ratio, round8, working_size

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PANS = (EditAction.PAN_LEFT, EditAction.PAN_RIGHT, EditAction.PAN_UP, EditAction.PAN_DOWN)
HORIZONTAL = (EditAction.PAN_LEFT, EditAction.PAN_RIGHT)
BASES = (512, 768, 1024)


# --- helpers -------------------------------------------------------------------------------------


def ratio(width: float, height: float) -> float:
    """How elongated a shape is, either way (≥ 1)."""
    return max(width / height, height / width)


def close(a: float, b: float, rel: float) -> bool:
    return abs(a / b - 1) <= rel


def overlaps(a: Box, b: Box) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


def inside(box: Box, width: int, height: int) -> bool:
    return 0 <= box.left < box.right <= width and 0 <= box.top < box.bottom <= height


def assert_exact_border(plan: EditPlan) -> None:
    """The regenerated boxes tile the canvas minus `place`: inside it, disjoint, off the place, and their
    areas add up to what is left (disjoint sets inside the canvas with that total cover it exactly)."""
    assert inside(plan.place, plan.width, plan.height)
    boxes = plan.regenerate
    assert boxes, "an outpainting with nothing to paint"
    for i, box in enumerate(boxes):
        assert inside(box, plan.width, plan.height), box
        assert not overlaps(box, plan.place), (box, plan.place)
        for other in boxes[i + 1 :]:
            assert not overlaps(box, other), (box, other)
    assert sum(b.area for b in boxes) == plan.width * plan.height - plan.place.area


def region_mask(plan: EditPlan, grow: int = 0) -> np.ndarray:
    """True on the union of the regenerated boxes (grown by `grow`, clipped), as an H×W array."""
    mask = np.zeros((plan.height, plan.width), dtype=bool)
    for box in plan.regenerate:
        g = box.grow(grow, plan.width, plan.height)
        mask[g.top : g.bottom, g.left : g.right] = True
    return mask


def distance(plan: EditPlan) -> np.ndarray:
    """Each pixel's distance (in rings, i.e. the Chebyshev distance) to the nearest regenerated box."""
    ys, xs = np.mgrid[0 : plan.height, 0 : plan.width]
    best = np.full((plan.height, plan.width), 10**9)
    for b in plan.regenerate:
        dx = np.maximum(np.maximum(b.left - xs, xs - (b.right - 1)), 0)
        dy = np.maximum(np.maximum(b.top - ys, ys - (b.bottom - 1)), 0)
        best = np.minimum(best, np.maximum(dx, dy))
    return best


def kept_mask(plan: EditPlan) -> np.ndarray:
    return np.array([[plan.is_kept(x, y) for x in range(plan.width)] for y in range(plan.height)])


def noise(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int32)


def reason(call: Callable[..., object], *args: Any, **kwargs: Any) -> EditError:
    """The EditError that `call` refuses with."""
    with pytest.raises(EditError) as caught:
        call(*args, **kwargs)
    return caught.value


# Generation sizes: multiples of 8, at most 4:1 either way.
side = st.integers(8, 256).map(lambda n: n * 8)


@st.composite
def sources(draw: st.DrawFn, low: int = 64, high: int = 2048) -> tuple[int, int]:
    w = draw(st.integers(low // 8, high // 8)) * 8
    h = draw(st.integers(low // 8, high // 8)) * 8
    assume(ratio(w, h) <= 4)
    return w, h


@st.composite
def ratios(draw: st.DrawFn, most: int = 16) -> tuple[int, int]:
    w = draw(st.integers(1, most))
    h = draw(st.integers(1, most))
    assume(ratio(w, h) <= 4)
    return w, h


# --- small helpers of edits.py -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 8), (3.9, 8), (4, 8), (11.9, 8), (12, 16), (512, 512), (627.1, 624), (1000, 1000)],
)
def test_round8_is_the_nearest_multiple_of_8_halves_up_at_least_8(value: float, expected: int) -> None:
    assert round8(value) == expected


@FAST
@given(ratios(), st.integers(8, 256).map(lambda n: n * 8))
def test_area_size_is_the_size_imagine_gives_that_aspect(wh: tuple[int, int], base: int) -> None:
    """A Zoom Out to --ar W:H (or a pan to that shape) has the size `/imagine --ar W:H` has."""
    w, h = wh
    assert area_size(w / h, base) == dimensions(f"{w}:{h}", base)


@FAST
@given(st.floats(0.25, 4.0), st.integers(64, 2048))
def test_area_size_keeps_within_4_to_1_and_near_the_area(aspect: float, base: int) -> None:
    width, height = area_size(aspect, base)
    assert width % 8 == 0 and height % 8 == 0
    assert ratio(width, height) <= 4
    slack = 0.01 + 12 / min(width, height)  # one 8-px step of the shorter side
    assert close(width * height, base**2, slack)
    assert close(width / height, aspect, slack)


def test_area_size_at_an_odd_base_still_keeps_4_to_1() -> None:
    # 4:1 at 996 rounds to 1992×496 (4.016:1), which the prompt language itself would refuse.
    width, height = area_size(4.0, 996)
    assert (width, height) == (1984, 496)
    tall = area_size(0.25, 996)
    assert tall == (496, 1984)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((768, 512), "3:2"),
        ((512, 768), "2:3"),
        ((512, 512), "1:1"),
        ((1024, 256), "4:1"),
        ((256, 1024), "1:4"),
        ((624, 416), "3:2"),
        ((2048, 1152), "16:9"),
        ((1152, 2048), "9:16"),
        ((576, 456), "24:19"),  # small enough to be exact
        ((728, 360), "2:1"),  # /imagine --ar 2:1 at 512 (91:45 exactly)
        ((360, 728), "1:2"),
        ((592, 440), "4:3"),  # --ar 4:3 at 512
        ((1368, 768), "16:9"),  # --ar 16:9 at 1024
        ((680, 384), "7:4"),  # --ar 16:9 at 512 also is --ar 7:4 at 512: the simpler one
        ((768, 344), "9:4"),  # a 3:2 image panned left
        ((776, 512), "3:2"),
        ((2040, 512), "4:1"),
        ((4096, 2730), "3:2"),
    ],
)
def test_aspect_ratio_text(size: tuple[int, int], expected: str) -> None:
    assert aspect_ratio(*size) == expected


@FAST
@given(sources(8, 4096))
def test_aspect_ratio_is_close_small_mirrored_and_a_valid_ar(size: tuple[int, int]) -> None:
    width, height = size
    text = aspect_ratio(width, height)
    a, b = (int(n) for n in text.split(":"))
    assert math.gcd(a, b) == 1
    assert min(a, b) <= 32 and max(a, b) <= 128
    assert aspect_ratio(height, width) == f"{b}:{a}"  # mirrored
    dimensions(text, 512)  # an edit's spec carries this text as its --ar: the prompt language takes it
    g = math.gcd(width, height)
    if max(width, height) // g <= 32:
        assert text == f"{width // g}:{height // g}"
    else:  # a ratio the size may have been rounded from (±4 px a side), or else the nearest
        long, short, shown = max(width, height), min(width, height), max(a, b) / min(a, b)
        assert (long - 4) / (short + 4) - 1e-9 <= shown <= (long + 4) / (short - 4) + 1e-9 or close(
            shown, long / short, 0.02
        )


@FAST
@given(st.integers(1, 6000), st.integers(1, 6000), st.sampled_from((512, 768, 1024)))
def test_working_size_of_a_file(width: int, height: int, base: int) -> None:
    assume(ratio(width, height) <= 8)
    w, h = working_size(width, height, base)
    assert w % 8 == 0 and h % 8 == 0 and w >= 8 and h >= 8
    assert w <= max(8, width) and h <= max(8, height)
    if width * height > base**2:
        assert w * h <= base**2
        if min(width, height) * base / math.sqrt(width * height) >= 128:
            assert close(w * h, base**2, 0.15)
            assert close(w / h, width / height, 0.1)
    if width % 8 == 0 and height % 8 == 0 and width * height <= base**2:
        assert (w, h) == (width, height)  # a small enough picture is used at its own size


def test_edit_error_names_the_argument() -> None:
    err = EditError("--zoom", "3 is out of range")
    assert isinstance(err, ValueError)
    assert (err.argument, err.message, str(err)) == (
        "--zoom",
        "3 is out of range",
        "--zoom: 3 is out of range",
    )


def test_box_geometry() -> None:
    box = Box(8, 16, 40, 32)
    assert (box.width, box.height, box.area) == (32, 16, 512)
    assert Box(10, 10, 5, 20).area == 0
    assert box.grow(8, 44, 40) == Box(0, 8, 44, 40)
    assert box.contains(8, 16) and box.contains(39, 31)
    assert not box.contains(40, 16) and not box.contains(8, 32) and not box.contains(7, 20)


def test_actions_are_the_cli_words_and_kinds() -> None:
    assert [a.value for a in EditAction] == [
        "upscale", "variations", "vary-subtle", "vary-strong", "vary-region", "upscale-subtle",
        "upscale-creative", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down", "make-square",
    ]  # fmt: skip
    assert {a for a in EditAction if a.is_pan} == set(PANS)
    assert {a for a in EditAction if a.is_outpaint} == {*PANS, EditAction.ZOOM_OUT, EditAction.MAKE_SQUARE}
    assert {a for a in EditAction if a.is_inpaint} == {
        *PANS,
        EditAction.ZOOM_OUT,
        EditAction.MAKE_SQUARE,
        EditAction.VARY_REGION,
    }
    assert {a for a in EditAction if a.is_upscale_again} == {
        EditAction.UPSCALE_SUBTLE,
        EditAction.UPSCALE_CREATIVE,
    }


# --- Zoom Out ------------------------------------------------------------------------------------


@FAST
@given(sources(), st.floats(1.05, 2.0))
def test_zoom_out_keeps_the_size_and_centres_the_source_scaled_by_1_over_zoom(
    source: tuple[int, int], zoom: float
) -> None:
    sw, sh = source
    plan = zoom_out(source, zoom)
    assert (plan.action, plan.size, plan.zoom) == (EditAction.ZOOM_OUT, source, zoom)
    place = plan.place
    assert abs(place.width - sw / zoom) <= 1 and abs(place.height - sh / zoom) <= 1
    assert abs(place.left - (sw - place.right)) <= 1 and abs(place.top - (sh - place.bottom)) <= 1
    assert_exact_border(plan)
    assert not plan.is_kept(0, 0) and not plan.is_kept(sw - 1, sh - 1)  # the border is repainted
    assert plan.is_kept(sw // 2, sh // 2) or place.width <= 2 * SEAM or place.height <= 2 * SEAM


@pytest.mark.parametrize(
    ("source", "zoom", "place"),
    [
        ((512, 512), 2.0, Box(128, 128, 384, 384)),
        ((768, 512), 2.0, Box(192, 128, 576, 384)),
        ((768, 512), 1.5, Box(128, 85, 640, 426)),
        ((512, 512), 1.0 + 1e-9, None),  # nothing to fill: refused below
    ],
)
def test_zoom_out_examples(source: tuple[int, int], zoom: float, place: Box | None) -> None:
    if place is None:
        assert reason(zoom_out, source, zoom).argument == "--zoom"
        return
    plan = zoom_out(source, zoom)
    assert plan.place == place and plan.size == source


@FAST
@given(sources(256), ratios(9), st.floats(1.0, 2.0))
def test_zoom_out_to_another_aspect_keeps_the_area_and_fits_the_source(
    source: tuple[int, int], wh: tuple[int, int], zoom: float
) -> None:
    sw, sh = source
    w, h = wh
    try:
        plan = zoom_out(source, zoom, ar=f"{w}:{h}")
    except EditError as err:  # only a zoom of (about) 1 to the source's own shape has nothing to fill
        assert err.argument == "--zoom"
        # (the same shape up to rounding the sides to multiples of 8: 376×256 asked for 3:2 stays 376×256)
        assert zoom < 1.01 and close(w / h, sw / sh, 0.01 + 12 / min(sw, sh))
        return
    assert plan.width % 8 == 0 and plan.height % 8 == 0
    # Sides rounded to multiples of 8 (and the longer one cut to stay within 4:1): the shorter the side,
    # the larger the step.
    slack = 0.01 + 12 / min(plan.width, plan.height)
    assert close(plan.width / plan.height, w / h, slack)
    assert close(plan.width * plan.height, sw * sh, slack)
    assert ratio(plan.width, plan.height) <= 4
    place = plan.place
    fit = min(plan.width / sw, plan.height / sh)  # the source fitted into the new shape, then zoomed out
    assert abs(place.width - sw * fit / zoom) <= 1 and abs(place.height - sh * fit / zoom) <= 1
    assert abs(place.left - (plan.width - place.right)) <= 1
    assert abs(place.top - (plan.height - place.bottom)) <= 1
    assert_exact_border(plan)


def test_zoom_1_to_another_aspect_is_valid_and_fills_the_sides() -> None:
    plan = zoom_out((512, 512), 1.0, ar="16:9")
    assert plan.size == (680, 384) == dimensions("16:9", 512)
    assert plan.place == Box(148, 0, 532, 384)  # the full height, centred
    assert plan.regenerate == (Box(0, 0, 148, 384), Box(532, 0, 680, 384))
    tall = zoom_out((768, 512), 1.0, ar="1:1")
    assert tall.size == (624, 624) and tall.place.width == 624 and tall.place.height == 416
    assert_exact_border(tall)


@pytest.mark.parametrize("zoom", [0.9, 0.0, -1.0, 2.1, 2.0001, 10.0, math.nan, math.inf, -math.inf])
def test_zoom_out_of_range_is_refused(zoom: float) -> None:
    err = reason(zoom_out, (512, 512), zoom)
    assert err.argument == "--zoom" and "1.0 to 2.0" in err.message


@pytest.mark.parametrize("source", [(512, 512), (768, 512), (512, 2048)])
def test_zoom_1_with_the_same_aspect_is_refused(source: tuple[int, int]) -> None:
    err = reason(zoom_out, source, 1.0)
    assert err.argument == "--zoom" and "nothing to fill" in err.message
    g = math.gcd(*source)
    assert reason(zoom_out, source, 1.0, ar=f"{source[0] // g}:{source[1] // g}").argument == "--zoom"


@pytest.mark.parametrize("zoom", [1.0, 1.5, 2.0])
def test_zoom_bounds_are_allowed(zoom: float) -> None:
    plan = zoom_out((768, 512), zoom, ar="1:1")
    assert plan.zoom == zoom


@pytest.mark.parametrize(
    "ar", ["", "3", "3x2", "3:2:1", "a:b", "1.5:1", "0:1", "1:0", "-3:2", "3:-2", "5:1", "1:5", "9:2", "2:9"]
)
def test_bad_ar_is_refused(ar: str) -> None:
    err = reason(zoom_out, (512, 512), 1.5, ar=ar)
    assert err.argument == "--ar"


@pytest.mark.parametrize(("ar", "shown"), [("9:2", "wider than 4:1 (9:2)"), ("2:9", "taller than 1:4 (2:9)")])
def test_too_long_ar_says_what_it_would_be(ar: str, shown: str) -> None:
    assert shown in reason(zoom_out, (512, 512), 1.5, ar=ar).message


@pytest.mark.parametrize("ar", ["4:1", "1:4"])
def test_ar_at_the_limit_is_allowed(ar: str) -> None:
    plan = zoom_out((512, 512), 1.0, ar=ar)
    assert ratio(plan.width, plan.height) == 4


# --- Pan -----------------------------------------------------------------------------------------


def the_new_area(plan: EditPlan) -> Box:
    (box,) = plan.regenerate
    return box


@FAST
@given(sources(), st.sampled_from(PANS), st.sampled_from(BASES))
def test_pan(source: tuple[int, int], action: EditAction, base: int) -> None:
    sw, sh = source
    horizontal = action in HORIZONTAL
    wanted = sw * 1.5 / sh if horizontal else sw / (sh * 1.5)
    if ratio(wanted, 1) > 4 + 1e-9:
        err = reason(pan, source, action, base)
        assert err.argument == action.value
        assert ("4:1" if wanted > 1 else "1:4") in err.message
        return
    plan = pan(source, action, base)
    width, height, place = plan.width, plan.height, plan.place
    assert plan.action is action and plan.zoom is None
    assert width % 8 == 0 and height % 8 == 0
    assert close(width * height, base**2, 0.03)
    assert close(width / height, wanted, 0.03)
    assert ratio(width, height) <= 4
    new = the_new_area(plan)
    assert_exact_border(plan)
    if horizontal:
        # The source spans the whole height, keeps its shape and the side opposite the new area.
        assert (place.top, place.bottom) == (0, height) and (new.top, new.bottom) == (0, height)
        assert abs(place.width - sw * height / sh) <= 0.5
        assert abs(new.width - place.width / 2) <= 24  # grown by half the source
        if action is EditAction.PAN_LEFT:
            assert place.right == width and new.left == 0
        else:
            assert place.left == 0 and new.right == width
    else:
        assert (place.left, place.right) == (0, width) and (new.left, new.right) == (0, width)
        assert abs(place.height - sh * width / sw) <= 0.5
        assert abs(new.height - place.height / 2) <= 24
        if action is EditAction.PAN_UP:
            assert place.bottom == height and new.top == 0
        else:
            assert place.top == 0 and new.bottom == height


@pytest.mark.parametrize(
    ("action", "size", "place", "new"),
    [
        (EditAction.PAN_LEFT, (512, 512), Box(171, 0, 512, 512), Box(0, 0, 171, 512)),
        (EditAction.PAN_RIGHT, (512, 512), Box(0, 0, 341, 512), Box(341, 0, 512, 512)),
        (EditAction.PAN_UP, (512, 512), Box(0, 171, 512, 512), Box(0, 0, 512, 171)),
        (EditAction.PAN_DOWN, (512, 512), Box(0, 0, 512, 341), Box(0, 341, 512, 512)),
    ],
)
def test_pan_of_a_portrait_to_a_square(
    action: EditAction, size: tuple[int, int], place: Box, new: Box
) -> None:
    source = (512, 768) if action in HORIZONTAL else (768, 512)
    plan = pan(source, action, 512)
    assert (plan.size, plan.place, plan.regenerate) == (size, place, (new,))
    assert plan.aspect_ratio == "1:1"


def test_pan_left_of_a_square_is_3_to_2_with_the_new_third_on_the_left() -> None:
    plan = pan((512, 512), EditAction.PAN_LEFT, 512)
    assert plan.size == (624, 416) and plan.aspect_ratio == "3:2"
    assert plan.place == Box(208, 0, 624, 416) and plan.regenerate == (Box(0, 0, 208, 416),)
    assert plan.is_kept(623, 0) and not plan.is_kept(0, 0) and not plan.is_kept(208 + SEAM - 1, 200)


def test_pan_of_a_3_to_1_image() -> None:
    for action in HORIZONTAL:  # 4.5:1
        err = reason(pan, (768, 256), action, 512)
        assert err.argument == action.value and "wider than 4:1 (9:2)" in err.message
    for action in (EditAction.PAN_UP, EditAction.PAN_DOWN):  # 2:1
        plan = pan((768, 256), action, 512)
        assert plan.aspect_ratio == "2:1" and plan.size == (728, 360)
    for action in (EditAction.PAN_UP, EditAction.PAN_DOWN):  # the tall mirror
        assert "taller than 1:4 (2:9)" in reason(pan, (256, 768), action, 512).message


@pytest.mark.parametrize("base", [512, 768, 1000, 1024])
def test_pan_to_exactly_4_to_1_is_allowed(base: int) -> None:
    plan = pan((1024, 384), EditAction.PAN_RIGHT, base)  # 8:3 × 1.5 = 4:1
    assert ratio(plan.width, plan.height) <= 4 and plan.aspect_ratio == "4:1"
    tall = pan((384, 1024), EditAction.PAN_DOWN, base)
    assert ratio(tall.width, tall.height) <= 4 and tall.aspect_ratio == "1:4"


def test_pan_after_pan_until_the_limit() -> None:
    size, sizes = (512, 512), []
    for _ in range(3):  # 1:1 → 3:2 → 9:4 → 27:8
        plan = pan(size, EditAction.PAN_LEFT, 512)
        size = plan.size
        sizes.append((size, plan.aspect_ratio))
    assert sizes == [((624, 416), "3:2"), ((768, 344), "9:4"), ((936, 280), "10:3")]
    assert reason(pan, size, EditAction.PAN_LEFT, 512).argument == "pan-left"  # 5.06:1
    assert reason(pan, size, EditAction.PAN_RIGHT, 512).argument == "pan-right"
    for action in (EditAction.PAN_UP, EditAction.PAN_DOWN):  # a wide image can still grow taller
        assert ratio(*pan(size, action, 512).size) < ratio(*size)


@FAST
@given(sources(), st.lists(st.sampled_from(PANS), min_size=1, max_size=10), st.sampled_from(BASES))
def test_pan_after_pan_is_refused_exactly_when_it_would_pass_4_to_1(
    source: tuple[int, int], actions: list[EditAction], base: int
) -> None:
    size = source
    for action in actions:
        w, h = size
        wanted = w * 1.5 / h if action in HORIZONTAL else w / (h * 1.5)
        if ratio(wanted, 1) > 4 + 1e-9:
            assert reason(pan, size, action, base).argument == action.value
            continue
        plan = pan(size, action, base)
        assert ratio(plan.width, plan.height) <= 4
        assert close(plan.width * plan.height, base**2, 0.03)
        assert_exact_border(plan)
        size = plan.size


def test_pan_needs_a_pan() -> None:
    with pytest.raises(ValueError):
        pan((512, 512), EditAction.ZOOM_OUT, 512)


# --- Make Square ---------------------------------------------------------------------------------


@FAST
@given(sources(), st.sampled_from((512, 768, 1000, 1024, 1020)))
def test_make_square(source: tuple[int, int], base: int) -> None:
    sw, sh = source
    assume(sw != sh)
    plan = make_square(source, base)
    side = plan.width
    assert plan.action is EditAction.MAKE_SQUARE and plan.height == side
    assert side % 8 == 0 and abs(side - base) <= 4
    place = plan.place
    assert max(place.width, place.height) == side  # the whole source, as large as fits
    assert abs(place.width - sw * side / max(sw, sh)) <= 0.5
    assert abs(place.height - sh * side / max(sw, sh)) <= 0.5
    assert abs(place.left - (side - place.right)) <= 1 and abs(place.top - (side - place.bottom)) <= 1
    assert_exact_border(plan)
    assert len(plan.regenerate) == 2


def test_make_square_example() -> None:
    plan = make_square((768, 512), 512)
    assert plan.size == (512, 512) and plan.aspect_ratio == "1:1"
    assert plan.place == Box(0, 85, 512, 426)
    assert plan.regenerate == (Box(0, 0, 512, 85), Box(0, 426, 512, 512))


@pytest.mark.parametrize("source", [(512, 512), (1024, 1024), (8, 8), (4000, 3999)])
def test_make_square_of_a_square_is_refused(source: tuple[int, int]) -> None:
    err = reason(make_square, source, 512)
    assert err.argument == "make-square" and "already square" in err.message


# --- Vary (Region) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("0.25,0,0.75,0.5", (0.25, 0.0, 0.75, 0.5)),
        (" 0.25 , 0 , 0.75 , 0.5 ", (0.25, 0.0, 0.75, 0.5)),
        ("0,0,1,1", (0.0, 0.0, 1.0, 1.0)),
        ("1e-1,.2,1.,1", (0.1, 0.2, 1.0, 1.0)),
    ],
)
def test_parse_region(text: str, region: tuple[float, float, float, float]) -> None:
    assert parse_region(text) == region


@pytest.mark.parametrize(
    "text", ["", "0,0,1", "0,0,1,1,1", "a,b,c,d", "0;0;1;1", "0 0 1 1", "0,,1,1", "0,0,1,1,"]
)
def test_malformed_region_is_refused(text: str) -> None:
    err = reason(parse_region, text)
    assert err.argument == "--region" and "LEFT,TOP,RIGHT,BOTTOM" in err.message


def test_cells_are_the_ninths_row_by_row() -> None:
    assert cell_region(0) == (0, 0, 1 / 3, 1 / 3)
    assert cell_region(4) == (1 / 3, 1 / 3, 2 / 3, 2 / 3)
    assert cell_region(5) == (2 / 3, 1 / 3, 1, 2 / 3)
    assert cell_region(8) == (2 / 3, 2 / 3, 1, 1)
    for cell in (-1, 9, 100):
        assert reason(cell_region, cell).argument == "--region"


def test_two_cells_are_the_top_left_two_ninths() -> None:
    plan = vary_region((768, 512), [cell_region(0), cell_region(1)])
    assert (plan.action, plan.size, plan.place) == (EditAction.VARY_REGION, (768, 512), Box(0, 0, 768, 512))
    assert plan.regenerate == (Box(0, 0, 256, 176), Box(256, 0, 512, 176))  # 170.67 snapped out to 176
    mask = region_mask(plan)
    assert mask[:176, :512].all() and mask.sum() == 512 * 176


@FAST
@given(sources(), st.sets(st.integers(0, 8), min_size=1))
def test_cells_union(source: tuple[int, int], cells: set[int]) -> None:
    width, height = source
    plan = vary_region(source, [cell_region(c) for c in sorted(cells)])
    mask = region_mask(plan)
    near = np.zeros_like(mask)  # the chosen ninths, widened by the 8 px that snapping may add
    for cell in range(9):
        row, col = divmod(cell, 3)
        x0, x1 = col * width / 3, (col + 1) * width / 3
        y0, y1 = row * height / 3, (row + 1) * height / 3
        if cell in cells:
            assert mask[math.floor(y0) : math.ceil(y1), math.floor(x0) : math.ceil(x1)].all()
            near[
                max(0, math.ceil(y0 - 8)) : math.floor(y1 + 8), max(0, math.ceil(x0 - 8)) : math.floor(x1 + 8)
            ] = 1
    assert not (mask & ~near).any()
    assert (mask.all()) == (cells == set(range(9)))


fraction = st.floats(0, 1)


@FAST
@given(sources(8, 2048), st.lists(st.tuples(fraction, fraction, fraction, fraction), min_size=1, max_size=4))
def test_regions_snap_outwards_to_multiples_of_8_inside_the_image(
    source: tuple[int, int], raw: list[tuple[float, float, float, float]]
) -> None:
    width, height = source
    regions = [(min(a, c), min(b, d), max(a, c), max(b, d)) for a, b, c, d in raw]
    assume(all(r[0] < r[2] and r[1] < r[3] and (r[2] - r[0]) * width > 1e-3 for r in regions))
    assume(all((r[3] - r[1]) * height > 1e-3 for r in regions))
    plan = vary_region(source, regions)
    assert plan.size == source and plan.place == Box(0, 0, width, height)
    mask = region_mask(plan)
    for box in plan.regenerate:
        assert inside(box, width, height)
        for edge, limit in ((box.left, width), (box.right, width), (box.top, height), (box.bottom, height)):
            assert edge % 8 == 0 or edge == limit
    near = np.zeros_like(mask)
    for x0, y0, x1, y1 in regions:
        # Every pixel the region touches is repainted, and nothing further than the 8-px cells it touches.
        left, top, right, bottom = x0 * width, y0 * height, x1 * width, y1 * height
        # (to within float noise: a fraction a hair below a multiple of 8 px snaps to that multiple)
        span = mask[
            math.floor(top + 1e-4) : math.ceil(bottom - 1e-4),
            math.floor(left + 1e-4) : math.ceil(right - 1e-4),
        ]
        assert span.all()
        near[
            max(0, math.ceil(top - 8)) : math.floor(bottom + 8),
            max(0, math.ceil(left - 8)) : math.floor(right + 8),
        ] = 1
    assert not (mask & ~near).any()


@pytest.mark.parametrize(
    ("source", "region", "box"),
    [
        ((800, 800), (0.1, 0.1, 0.55, 0.55), Box(80, 80, 440, 440)),  # 0.55 × 800 = 440.00000000000006
        ((720, 720), (0.7, 0.7, 0.9, 0.9), Box(504, 504, 648, 648)),  # 0.7 × 720 = 503.99999999999994
        ((96, 64), (0.5, 0, 1, 0.5), Box(48, 0, 96, 32)),
        ((100, 60), (0.5, 0.5, 1, 1), Box(48, 24, 100, 60)),  # the image edge, though not a multiple of 8
        ((512, 512), (0.01, 0.01, 0.02, 0.02), Box(0, 0, 16, 16)),
    ],
)
def test_region_examples(source: tuple[int, int], region: Region, box: Box) -> None:
    assert vary_region(source, [region]).regenerate == (box,)


def test_a_region_covering_everything_is_allowed() -> None:
    plan = vary_region((768, 512), [(0, 0, 1, 1)])
    assert plan.regenerate == (Box(0, 0, 768, 512),)
    assert not plan.is_kept(0, 0) and not plan.is_kept(767, 511)
    every = vary_region((768, 512), [cell_region(c) for c in range(9)])
    assert region_mask(every).all()


def test_repeated_and_contained_regions_are_merged() -> None:
    plan = vary_region((512, 512), [cell_region(0), cell_region(0), (0, 0, 0.1, 0.1), (0.5, 0.5, 1, 1)])
    assert plan.regenerate == (Box(0, 0, 176, 176), Box(256, 256, 512, 512))


@pytest.mark.parametrize(
    "regions",
    [
        [],
        [(0.5, 0.5, 0.5, 0.6)],  # empty
        [(0.5, 0.2, 0.6, 0.2)],
        [(0.6, 0, 0.2, 1)],  # inverted
        [(0, 1, 1, 0)],
        [(-0.1, 0, 1, 1)],  # out of range
        [(0, 0, 1.1, 1)],
        [(0, 0, 1, 1), (0, 0, 1, 2)],
        [(math.nan, 0, 1, 1)],
        [(0, 0, 1, math.nan)],
        [(0, 0, math.inf, 1)],
        [(-math.inf, 0, 1, 1)],
        [(0.5, 0.5, 0.5 + 1e-12, 0.6)],  # thinner than a pixel
    ],
)
def test_bad_regions_are_refused(regions: list[tuple[float, float, float, float]]) -> None:
    assert reason(vary_region, (512, 512), regions).argument == "--region"


def test_nan_text_parses_then_is_refused() -> None:
    region = parse_region("nan,0,1,1")
    assert reason(vary_region, (512, 512), [region]).argument == "--region"


# --- Upscale (Subtle) / (Creative) -------------------------------------------------------------------


@pytest.mark.parametrize("action", [EditAction.UPSCALE_SUBTLE, EditAction.UPSCALE_CREATIVE])
def test_upscale_again_doubles_the_picture(action: EditAction) -> None:
    plan = upscale_again((1024, 768), action)
    assert (plan.action, plan.size, plan.place, plan.regenerate) == (
        action,
        (2048, 1536),
        Box(0, 0, 2048, 1536),
        (),
    )
    assert upscale_again((2048, 2048), action).size == (MAX_SIDE, MAX_SIDE) == (4096, 4096)
    assert upscale_again((2048, 512), action).size == (4096, 1024)
    for too_big in ((2056, 2048), (1024, 2056), (4096, 4096)):
        err = reason(upscale_again, too_big, action)
        assert err.argument == action.value and "4096" in err.message


def test_upscale_strengths() -> None:
    assert upscale_strength(EditAction.UPSCALE_SUBTLE) == pytest.approx(0.2)
    assert upscale_strength(EditAction.UPSCALE_CREATIVE) == pytest.approx(0.45)
    with pytest.raises(ValueError):
        upscale_again((512, 512), EditAction.UPSCALE)


# --- plan_edit -----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(EditAction))
def test_plan_edit_dispatches_every_action(action: EditAction) -> None:
    kwargs: dict[str, Any] = {
        "source_size": (768, 512),
        "source_pixels": (1536, 1024),
        "base_resolution": 512,
    }
    plan = plan_edit(action, regions=[cell_region(4)], **kwargs)
    if action in (EditAction.UPSCALE, EditAction.VARIATIONS, EditAction.VARY_SUBTLE, EditAction.VARY_STRONG):
        assert plan is None
        return
    assert plan is not None and plan.action is action
    if action is EditAction.ZOOM_OUT:
        assert plan == zoom_out((768, 512), 2.0)  # Zoom Out 2x unless told
    elif action is EditAction.MAKE_SQUARE:
        assert plan == make_square((768, 512), 512)
    elif action is EditAction.VARY_REGION:
        assert plan == vary_region((768, 512), [cell_region(4)])  # at the generation size
    elif action.is_upscale_again:
        assert plan == upscale_again((1536, 1024), action)  # twice the picture, not the generation size
        assert plan.size == (3072, 2048)
    else:
        assert action.is_pan and plan == pan((768, 512), action, 512)


def test_plan_edit_passes_the_arguments_on() -> None:
    common: dict[str, Any] = {
        "source_size": (768, 512),
        "source_pixels": (1536, 1024),
        "base_resolution": 512,
    }
    assert plan_edit(EditAction.ZOOM_OUT, zoom=1.5, **common) == zoom_out((768, 512), 1.5)
    assert plan_edit(EditAction.ZOOM_OUT, zoom=1.0, ar="1:1", **common) == zoom_out((768, 512), 1.0, ar="1:1")
    assert reason(plan_edit, EditAction.ZOOM_OUT, zoom=3.0, **common).argument == "--zoom"
    assert reason(plan_edit, EditAction.VARY_REGION, **common).argument == "--region"
    assert (
        reason(plan_edit, EditAction.MAKE_SQUARE, **{**common, "source_size": (512, 512)}).argument
        == "make-square"
    )
    big = {**common, "source_pixels": (4096, 2730)}
    assert reason(plan_edit, EditAction.UPSCALE_CREATIVE, **big).argument == "upscale-creative"


# --- EditPlan ------------------------------------------------------------------------------------

coord = st.integers(0, 4096)
boxes = st.builds(Box, coord, coord, coord, coord)
plans = st.builds(
    EditPlan,
    st.sampled_from(list(EditAction)),
    st.integers(8, 4096),
    st.integers(8, 4096),
    boxes,
    st.lists(boxes, max_size=4).map(tuple),
    st.one_of(st.none(), st.floats(1, 2), st.integers(1, 2).map(float)),
)


@FAST
@given(plans)
def test_plan_json_round_trip(plan: EditPlan) -> None:
    data = plan.to_json()
    assert EditPlan.from_json(data) == plan
    assert EditPlan.from_json(json.loads(json.dumps(data))) == plan  # as stored in the database
    assert json.loads(json.dumps(data)) == data


def test_plan_json_shape() -> None:
    plan = zoom_out((512, 512), 2.0)
    assert plan.to_json() == {
        "action": "zoom-out",
        "width": 512,
        "height": 512,
        "place": [128, 128, 384, 384],
        "regenerate": [[0, 0, 512, 128], [0, 384, 512, 512], [0, 128, 128, 384], [384, 128, 512, 384]],
        "zoom": 2.0,
    }
    old = {"action": "upscale-subtle", "width": 1024, "height": 1024, "place": [0, 0, 1024, 1024]}
    assert EditPlan.from_json(old) == upscale_again((512, 512), EditAction.UPSCALE_SUBTLE)


@pytest.mark.parametrize(
    ("size", "text"), [((768, 512), "3:2"), ((512, 512), "1:1"), ((728, 360), "2:1"), ((360, 728), "1:2")]
)
def test_plan_aspect_ratio(size: tuple[int, int], text: str) -> None:
    plan = EditPlan(EditAction.VARY_REGION, *size, Box(0, 0, *size))
    assert plan.aspect_ratio == text and plan.size == size


def test_is_kept_is_outside_every_box_and_its_seam() -> None:
    plan = EditPlan(EditAction.VARY_REGION, 64, 64, Box(0, 0, 64, 64), (Box(24, 24, 40, 40),))
    assert not plan.is_kept(24, 24) and not plan.is_kept(39, 39)
    assert not plan.is_kept(24 - SEAM, 24) and plan.is_kept(24 - SEAM - 1, 24)
    assert not plan.is_kept(39 + SEAM, 39 + SEAM) and plan.is_kept(40 + SEAM, 30)
    assert plan.is_kept(0, 0) and plan.is_kept(63, 63)
    assert EditPlan(EditAction.UPSCALE_SUBTLE, 8, 8, Box(0, 0, 8, 8)).is_kept(0, 0)


# --- the pictures (edit_images.py) ---------------------------------------------------------------

# Small plans of every kind (the geometry is scale-free; small canvases keep these fast).
PICTURE_PLANS = {
    "zoom-2": zoom_out((96, 64), 2.0),
    "zoom-1.3": zoom_out((96, 64), 1.3),
    "zoom-ar": zoom_out((96, 64), 1.2, ar="1:2"),
    "pan-left": pan((96, 64), EditAction.PAN_LEFT, 80),
    "pan-right": pan((96, 64), EditAction.PAN_RIGHT, 80),
    "pan-up": pan((64, 96), EditAction.PAN_UP, 80),
    "pan-down": pan((96, 64), EditAction.PAN_DOWN, 80),
    "square": make_square((96, 48), 80),
    "region": vary_region((96, 64), [(0.25, 0.25, 0.5, 0.75)]),
    "cells": vary_region((96, 96), [cell_region(0), cell_region(8), cell_region(4)]),
    "everything": vary_region((48, 40), [(0, 0, 1, 1)]),
}


def check_pictures(plan: EditPlan, source: Image.Image, generated: Image.Image) -> None:
    placed = placed_source(source, plan)
    assert placed.mode == "RGB" and placed.size == (plan.place.width, plan.place.height)

    start = canvas(source, plan)
    assert start.mode == "RGB" and start.size == plan.size
    start_px, placed_px = pixels(start), pixels(placed)
    p = plan.place
    assert (start_px[p.top : p.bottom, p.left : p.right] == placed_px).all()
    outside = np.ones((plan.height, plan.width), dtype=bool)
    outside[p.top : p.bottom, p.left : p.right] = False
    assert (start_px[outside] == FILL).all()

    mask = inpaint_mask(plan)
    assert mask.mode == "L" and mask.size == plan.size
    mask_px = pixels(mask)
    assert set(np.unique(mask_px)) <= {0, 255}
    assert ((mask_px == 255) == region_mask(plan, SEAM)).all()

    alpha = seam_alpha(plan)
    assert alpha.mode == "L" and alpha.size == plan.size
    alpha_px = pixels(alpha)
    dist = distance(plan)
    kept = kept_mask(plan)
    assert (alpha_px[dist == 0] == 255).all()
    assert ((alpha_px == 0) == kept).all()
    assert (kept == (dist > SEAM)).all()
    band = (dist > 0) & (dist <= SEAM)
    assert ((alpha_px[band] > 0) & (alpha_px[band] < 255)).all()
    assert ((alpha_px > 0) == (mask_px == 255)).all()  # the pipeline paints wherever anything is blended
    # Falls monotonically with the distance: one value per ring, each ring fainter than the one inside.
    ring_values: list[int] = []
    for d in range(SEAM + 2):
        values = set(np.unique(alpha_px[dist == d]))
        assert len(values) <= 1, (d, values)
        ring_values.extend(values)
    assert ring_values == sorted(ring_values, reverse=True) and len(set(ring_values)) == len(ring_values)

    result = paste_back(generated, start, plan)
    assert result.mode == "RGB" and result.size == plan.size
    result_px = pixels(result)
    gen_px = pixels(
        generated if generated.size == plan.size else generated.resize(plan.size, Image.Resampling.LANCZOS)
    )
    assert (result_px[kept] == start_px[kept]).all()  # the source's own pixels, never a round trip
    assert (result_px[dist == 0] == gen_px[dist == 0]).all()
    low, high = np.minimum(start_px, gen_px), np.maximum(start_px, gen_px)
    assert ((result_px[band] >= low[band] - 1) & (result_px[band] <= high[band] + 1)).all()
    # "Pixels kept": in the kept area the result is the source resized to its place.
    in_place = np.zeros_like(kept)
    in_place[p.top : p.bottom, p.left : p.right] = True
    assert not (kept & ~in_place).any()
    ys, xs = np.nonzero(kept)
    assert (result_px[ys, xs] == placed_px[ys - p.top, xs - p.left]).all()


@pytest.mark.parametrize("name", list(PICTURE_PLANS))
def test_pictures_of_each_edit(name: str) -> None:
    plan = PICTURE_PLANS[name]
    source = (
        noise(96, 64, seed=1)
        if plan.action is not EditAction.VARY_REGION
        else noise(plan.width, plan.height, 2)
    )
    generated = noise(plan.width, plan.height, seed=3)
    check_pictures(plan, source, generated)


def test_pictures_of_an_upscaled_source_and_a_differently_sized_generation() -> None:
    plan = vary_region((48, 32), [(0.5, 0, 1, 1)])
    source = noise(96, 64, seed=4).convert("RGBA")  # the U<k> picture, twice the generation size
    check_pictures(plan, source, noise(24, 16, seed=5))


def test_the_seam_ramp() -> None:
    plan = EditPlan(EditAction.VARY_REGION, 64, 16, Box(0, 0, 64, 16), (Box(0, 0, 24, 16),))
    row = pixels(seam_alpha(plan))[8]
    assert (row[:24] == 255).all() and (row[24 + SEAM :] == 0).all()
    ramp = list(row[23 : 24 + SEAM + 1])
    assert ramp[0] == 255 and ramp[-1] == 0 and all(0 < v < 255 for v in ramp[1:-1])
    assert all(a > b for a, b in itertools.pairwise(ramp))


def test_an_edit_with_nothing_regenerated_keeps_everything() -> None:
    plan = upscale_again((16, 16), EditAction.UPSCALE_SUBTLE)
    start = canvas(noise(16, 16, 6), plan)
    assert start.size == (32, 32)
    assert not pixels(inpaint_mask(plan)).any() and not pixels(seam_alpha(plan)).any()
    assert (pixels(paste_back(noise(32, 32, 7), start, plan)) == pixels(start)).all()


@st.composite
def small_plans(draw: st.DrawFn) -> EditPlan:
    w = draw(st.integers(4, 16)) * 8
    h = draw(st.integers(4, 16)) * 8
    assume(ratio(w, h) <= 4)
    kind = draw(st.sampled_from(["zoom", "pan", "square", "region"]))
    if kind == "zoom":
        return zoom_out((w, h), draw(st.floats(1.1, 2.0)))
    if kind == "pan":
        action = draw(st.sampled_from(PANS))
        wanted = w * 1.5 / h if action in HORIZONTAL else w / (h * 1.5)
        assume(ratio(wanted, 1) <= 4)
        return pan((w, h), action, draw(st.integers(8, 16)) * 8)
    if kind == "square":
        assume(w != h)
        return make_square((w, h), draw(st.integers(8, 16)) * 8)
    cells = draw(st.sets(st.integers(0, 8), min_size=1, max_size=4))
    return vary_region((w, h), [cell_region(c) for c in sorted(cells)])


@FEW
@given(small_plans(), st.integers(0, 2**32 - 1))
def test_pictures_of_any_edit(plan: EditPlan, seed: int) -> None:
    source_size = (plan.width, plan.height) if plan.action is EditAction.VARY_REGION else (40, 24)
    check_pictures(plan, noise(*source_size, seed), noise(plan.width, plan.height, seed + 1))


def test_plans_list_covers_every_inpainting_action() -> None:
    actions: Sequence[EditAction] = [p.action for p in PICTURE_PLANS.values()]
    assert {a for a in EditAction if a.is_inpaint} <= set(actions)
