"""Thumbnails: a job's cover (its images as one 2×2 mosaic, or its single image) or one image, as a small
JPEG. Made once, on first view, then served from the database's cache (db.gallery). An image that image
moderation flagged is blurred beyond recognition in every thumbnail, as a spoiler is on Discord."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageFilter

from db.gallery import Thumbnail
from db.records import JobImage
from imaginebot.core.images import make_grid, open_image, png_bytes

THUMB_SIZE = 384  # the longer side, in pixels: sharp in a 4-column grid on a HiDPI screen
JPEG_QUALITY = 82


def veiled(png: bytes) -> Image.Image:
    """A flagged image, blurred and darkened so that nothing in it can be made out."""
    picture = open_image(png)
    small = picture.resize((max(1, picture.width // 16), max(1, picture.height // 16)), Image.Resampling.BOX)
    blurred = small.resize(picture.size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(8))
    return Image.eval(blurred, lambda v: v // 2)


def _picture(image: JobImage) -> Image.Image:
    return veiled(image.png) if image.flagged else open_image(image.png)


def make_thumbnail(images: Sequence[JobImage], *, size: int = THUMB_SIZE) -> Thumbnail:
    """The thumbnail of these images: one image scaled down, or several as a 2×2 mosaic (never scaled
    up); flagged ones veiled."""
    if not images:
        raise ValueError("a thumbnail needs at least one image")
    pictures = [_picture(i) for i in images]
    picture = pictures[0] if len(pictures) == 1 else make_grid(pictures)
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return Thumbnail(buf.getvalue(), picture.width, picture.height)


def shared_grid(images: Sequence[JobImage]) -> bytes:
    """The 2×2 grid PNG as a share link shows it: flagged images veiled."""
    return png_bytes(make_grid([_picture(i) for i in images]))
