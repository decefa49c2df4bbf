"""Image helpers shared by the CLI and the bot (Pillow only: no torch, no discord)."""

from __future__ import annotations

import io

from PIL import Image


def open_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_grid(images: list[Image.Image]) -> Image.Image:
    """A 2×2 grid without gaps, images in reading order (1 2 / 3 4)."""
    if not images:
        raise ValueError("a grid needs at least one image")
    w, h = images[0].size
    cols = 2 if len(images) > 1 else 1
    rows = (len(images) + cols - 1) // cols
    grid = Image.new("RGB", (w * cols, h * rows))
    for i, img in enumerate(images):
        grid.paste(img.convert("RGB"), ((i % cols) * w, (i // cols) * h))
    return grid


def grid_png(pngs: list[bytes]) -> bytes:
    return encode_png(make_grid([open_png(p) for p in pngs]))


def fit_under(png: bytes, limit: int) -> tuple[bytes, str]:
    """Return (bytes, extension) no larger than `limit`: the PNG itself when it fits, else a JPEG of
    falling quality, then of shrinking size (three quarters a side each round), until it does."""
    if len(png) <= limit:
        return png, "png"
    img = open_png(png).convert("RGB")
    while True:
        for quality in (92, 85, 75, 60, 45):
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=quality, optimize=True)
            if buf.tell() <= limit:
                return buf.getvalue(), "jpg"
        if min(img.size) <= 16:
            raise ValueError(f"cannot fit the image under {limit} bytes")
        size = (max(16, img.width * 3 // 4), max(16, img.height * 3 // 4))
        img = img.resize(size, Image.Resampling.LANCZOS)
