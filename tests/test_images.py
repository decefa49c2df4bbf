"""Pure helpers: the 2×2 grid, fitting under an upload limit, latent previews, circular padding."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gen.preview import latents_to_image, preview_jpeg
from gen.tiling import seamless
from imaginebot.core.images import fit_under, make_grid, open_image, png_bytes


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_grid_is_two_by_two_without_gaps() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    tiles = [Image.new("RGB", (30, 20), c) for c in colours]
    grid = make_grid([png_bytes(tiles[0]), *tiles[1:]])
    assert grid.size == (60, 40)
    assert [grid.getpixel(p) for p in [(0, 0), (59, 0), (0, 39), (59, 39)]] == colours
    assert grid.getpixel((29, 19)) == colours[0] and grid.getpixel((30, 20)) == colours[3]
    with pytest.raises(ValueError):
        make_grid([])


def test_png_bytes_are_lossless_and_deterministic() -> None:
    img = _noise(40, 30)
    data = png_bytes(img)
    assert data == png_bytes(img) and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(open_image(data)), np.asarray(img))


def test_fit_under_keeps_small_pngs_and_shrinks_big_ones() -> None:
    png = png_bytes(_noise(512, 512))
    assert fit_under(png, len(png)) == (png, "png", "image/png")
    small = fit_under(png, len(png) // 4)
    assert len(small.data) <= len(png) // 4 and small.ext in ("jpg", "webp")
    assert Image.open(io.BytesIO(small.data)).size == (512, 512)  # quality dropped before size
    tiny = fit_under(png, 20_000)
    assert len(tiny.data) <= 20_000
    assert max(Image.open(io.BytesIO(tiny.data)).size) < 512
    with pytest.raises(ValueError):
        fit_under(png, 10)


def test_latent_preview_is_a_small_jpeg() -> None:
    latents = torch.randn(4, 64, 96)
    img = latents_to_image(latents)
    assert img.size == (256, 171)
    data = preview_jpeg(latents, sdxl=True)
    assert data[:2] == b"\xff\xd8" and len(data) < 40_000


def test_seamless_switches_and_restores_padding() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Conv2d(3, 3, 1))
    x = torch.zeros(1, 3, 8, 8)
    x[..., 0] = 1.0  # a stripe on the left edge
    with torch.no_grad():
        plain = net[0](x)
        with seamless([net]):
            assert net[0].padding_mode == "circular" and net[1].padding_mode == "zeros"  # 1×1 needs none
            wrapped = net[0](x)
    assert net[0].padding_mode == "zeros"
    # With circular padding the right edge sees the left-edge stripe; with zeros it does not.
    assert not torch.allclose(plain[..., -1], wrapped[..., -1])
    with seamless([net], enabled=False):
        assert net[0].padding_mode == "zeros"
