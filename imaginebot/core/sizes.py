"""Image sizes, shared by the prompt language and the edits: sides in multiples of 8, an area of about
base_resolution², the 4:1 limit, and the `W:H` a size reads as. Pure arithmetic."""

from __future__ import annotations

import math

MAX_ASPECT = 4.0  # 4:1 either way


def round8(value: float, step: int = 8) -> int:
    """The nearest multiple of 8 (or of `step`; halves round up, like `prompt.dimensions`), at least one."""
    return max(step, math.floor(value / step + 0.5) * step)


def area_size(aspect: float, base_resolution: int) -> tuple[int, int]:
    """(width, height) of an image with width/height = aspect and an area of about base_resolution².

    An aspect within 4:1 gives a size within 4:1 (rounding both sides to multiples of 8 could otherwise
    pass it, e.g. 4:1 at 996 → 1992×496)."""
    area = float(base_resolution) ** 2
    width, height = round8(math.sqrt(area * aspect)), round8(math.sqrt(area / aspect))
    if max(aspect, 1 / aspect) <= MAX_ASPECT + 1e-9:
        while width > MAX_ASPECT * height:
            width -= 8
        while height > MAX_ASPECT * width:
            height -= 8
    return width, height


def aspect_ratio(width: int, height: int) -> str:
    """`W:H` for a width×height image: in lowest terms when both are at most 32; otherwise the simplest
    ratio (smallest numbers, shorter side at most 32) that the size could have been rounded from (each
    side a multiple of 8, so ±4 px: 728×360 is "2:1", not 91:45); failing that the nearest such ratio.
    A tall image's ratio is the mirror of the wide one's; a size within 4:1 gets a ratio within 4:1."""
    g = math.gcd(width, height)
    w, h = width // g, height // g
    if max(w, h) <= 32:
        return f"{w}:{h}"
    long, short = max(width, height), min(width, height)
    exact = long / short
    low = max(1.0, (long - 4) / (short + 4))
    high = (long + 4) / (short - 4) if short > 4 else float(long + 4)
    if exact <= MAX_ASPECT:
        high = min(high, MAX_ASPECT)
    best: tuple[int, int] | None = None
    for b in range(1, 33):
        first, last = math.ceil(low * b - 1e-9), math.floor(high * b + 1e-9)
        if first <= last:
            best = min(max(round(exact * b), first), last), b
            break
    if best is None:
        best = min(
            ((a, b) for b in range(1, 33) for a in range(b, 4 * 32 + 1)),
            key=lambda ab: (abs(ab[0] / ab[1] - exact), ab[1]),
        )
    a, b = best
    return f"{a}:{b}" if width >= height else f"{b}:{a}"


def working_size(width: int, height: int, base_resolution: int) -> tuple[int, int]:
    """The generation size for an image file used as a source: its own size, scaled down to an area of
    at most base_resolution² when larger, each side rounded down to a multiple of 8."""
    scale = min(1.0, base_resolution / math.sqrt(width * height))
    return max(8, int(width * scale) // 8 * 8), max(8, int(height * scale) // 8 * 8)
