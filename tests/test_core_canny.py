"""imaginebot.core.canny: the bot-side canny edge map (numpy + Pillow only)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imaginebot.core.canny import canny_edges, canny_map
from imaginebot.core.images import png_bytes


def square(
    size: tuple[int, int] = (64, 48), box: tuple[int, int, int, int] = (16, 12, 40, 31)
) -> Image.Image:
    img = Image.new("RGB", size)
    ImageDraw.Draw(img).rectangle(box, fill="white")
    return img


def edge_mask(img: Image.Image) -> np.ndarray:
    a = np.asarray(img)
    assert set(np.unique(a)) <= {0, 255}
    return a[:, :, 0] > 0


def test_square_gives_its_border_and_nothing_else() -> None:
    x0, y0, x1, y1 = 16, 12, 40, 31
    out = canny_map(png_bytes(square()))
    assert out.mode == "RGB" and out.size == (64, 48)
    edges = edge_mask(out)
    ys, xs = np.nonzero(edges)
    assert len(ys) > 0
    # Every edge pixel lies within one pixel of the square's outline …
    near_x = (np.abs(xs - x0) <= 1) | (np.abs(xs - x1) <= 1)
    near_y = (np.abs(ys - y0) <= 1) | (np.abs(ys - y1) <= 1)
    inside = (xs >= x0 - 1) & (xs <= x1 + 1) & (ys >= y0 - 1) & (ys <= y1 + 1)
    assert np.all(inside & (near_x | near_y))
    # … and each side is traced along (almost) its whole length, one pixel thick.
    for column in (x0, x1):
        band = edges[y0 + 2 : y1 - 1, column - 1 : column + 2]
        assert band.any(axis=1).all()
        assert (band.sum(axis=1) == 1).all()
    for row in (y0, y1):
        band = edges[row - 1 : row + 2, x0 + 2 : x1 - 1]
        assert band.any(axis=0).all()


def test_flat_images_have_no_edges() -> None:
    for colour in ("black", "white", (120, 30, 200)):
        assert not edge_mask(canny_map(Image.new("RGB", (40, 30), colour))).any()


def test_thresholds_are_monotone() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    img = Image.fromarray(noise).resize((96, 96), Image.Resampling.BILINEAR)
    pairs = [(20, 40), (50, 100), (100, 200), (200, 400), (400, 800)]
    counts = [int(edge_mask(canny_map(img, low, high)).sum()) for low, high in pairs]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]
    # The low threshold alone: raising it never adds pixels either.
    lows = [int(edge_mask(canny_map(img, low, 300)).sum()) for low in (10, 100, 200, 300)]
    assert lows == sorted(lows, reverse=True)


def test_hysteresis_keeps_weak_edges_connected_to_strong_ones() -> None:
    # A vertical step fading from bright (gradient ~550) at the top to faint (~90) at the bottom: with
    # thresholds 100/300 its faint part is an edge only through its link to the bright part.
    gray = np.zeros((30, 40), dtype=np.float32)
    gray[:, 20:] = np.linspace(255.0, 40.0, 30)[:, None]
    linked = canny_edges(gray, 100, 300)
    strong_only = canny_edges(gray, 300, 300)
    assert linked[20:28].any(axis=1).all() and not strong_only[20:28].any()
    alone = np.zeros_like(gray)
    alone[:, 20:] = 60.0  # only a faint step: no strong pixel to connect to
    assert not canny_edges(alone, 100, 300).any()
    assert canny_edges(alone, 100, 120).any()


def test_modes_and_bad_thresholds() -> None:
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((8, 8, 23, 23), fill=(255, 255, 255, 255))
    assert edge_mask(canny_map(rgba)).any()
    assert canny_map(rgba.convert("L")).mode == "RGB"
    assert canny_map(rgba.convert("P")).size == (32, 32)
    with pytest.raises(ValueError, match="low <= high"):
        canny_map(rgba, 200, 100)


def test_large_image_is_quick() -> None:
    import time

    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, size=(128, 128), dtype=np.uint8)).resize((1024, 768))
    start = time.perf_counter()
    out = canny_map(img, 30, 60)
    assert out.size == (1024, 768)
    assert time.perf_counter() - start < 10
