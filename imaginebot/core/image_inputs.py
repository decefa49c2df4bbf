"""Validating user-supplied input images (attachments and fetched URLs) before they are stored.

Pure: bytes in, a clean PNG out. The format is sniffed from magic bytes only, the size and the header
dimensions are checked before any pixel is decoded (so a small file claiming a huge size costs nothing),
the first frame of an animation is taken, EXIF orientation is applied, alpha is flattened onto white and
the result is re-encoded as PNG. Every refusal is an `InputImageError` whose text is a one-line message
for the Discord user, naming the image and the limit.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from PIL import Image, ImageOps

from imaginebot.core.images import png_bytes

MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_INPUT_SIDE = 4096
INPUT_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
FORMAT_NAMES = "PNG, JPEG, WebP or GIF"

_KIB = 1024
_MIB = 1024 * 1024
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# catch_warnings swaps the process-wide filter list; the lock keeps our own concurrent opens (worker
# threads) from restoring each other's filters. Only the header parse runs under it, not the decoding.
_OPEN_LOCK = threading.Lock()


class InputImageError(ValueError):
    """An input image was refused; str() is a one-line message for the user."""


class CaptionerError(Exception):
    """/describe's captioner could not be loaded or failed; str() is one line for the user."""


@dataclass(frozen=True)
class InputImage:
    """A validated input image, re-encoded as an RGB PNG."""

    png: bytes
    width: int
    height: int
    source_format: str
    sha256: str


def format_size(n: int, *, round_up: bool = False) -> str:
    """A byte count for people: `12.3 MiB`, `10 MiB`, `97.7 KiB`, `512 bytes`."""
    for unit, name in ((_MIB, "MiB"), (_KIB, "KiB")):
        if n >= unit:
            value = n / unit
            if round_up:
                value = math.ceil(value * 10) / 10
            return f"{value:.1f}".removesuffix(".0") + f" {name}"
    return f"{n} bytes"


def short_url(url: str, limit: int = 60) -> str:
    """A URL shortened for a message: host and last path segment, at most `limit` characters."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        host = ""
    if not host:
        text = url
    else:
        segments = [s for s in parts.path.split("/") if s]
        if not segments:
            text = host
        elif len(segments) == 1:
            text = f"{host}/{segments[0]}"
        else:
            text = f"{host}/…/{segments[-1]}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sniff_format(head: bytes) -> str | None:
    """The image format named by the leading magic bytes (`PNG`, `JPEG`, `WEBP`, `GIF`), else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def check_size(size: int, label: str = "image", *, max_bytes: int = MAX_INPUT_BYTES) -> None:
    """Refuse a file of `size` bytes over `max_bytes`."""
    if size > max_bytes:
        raise InputImageError(
            f"{label} is {format_size(size, round_up=True)}; the limit is {format_size(max_bytes)}")


def check_dimensions(width: int, height: int, label: str = "image") -> None:
    """Refuse an image over MAX_INPUT_SIDE pixels on a side (or with no pixels)."""
    if width > MAX_INPUT_SIDE or height > MAX_INPUT_SIDE:
        raise InputImageError(f"{label} is {width}×{height} pixels; "
                              f"the limit is {MAX_INPUT_SIDE}×{MAX_INPUT_SIDE}")
    if width < 1 or height < 1:
        raise InputImageError(f"{label} is {width}×{height} pixels; it has no picture")


def load_input_image(data: bytes, *, label: str = "image", max_bytes: int = MAX_INPUT_BYTES) -> InputImage:
    """Validate `data` and re-encode its (first) frame as an upright RGB PNG; InputImageError if refused."""
    check_size(len(data), label, max_bytes=max_bytes)
    fmt = sniff_format(data[:16])
    if fmt not in INPUT_FORMATS:
        raise InputImageError(f"{label} is not a {FORMAT_NAMES} file")
    unreadable = InputImageError(f"{label} could not be read as an image (a damaged {_name(fmt)} file?)")
    too_many = InputImageError(f"{label} has too many pixels; the limit is {MAX_INPUT_SIDE}×{MAX_INPUT_SIDE}")
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many from None
    except Exception:
        raise unreadable from None
    with img:
        check_dimensions(img.width, img.height, label)  # the header only: nothing decoded yet
        try:
            img.seek(0)
            img.load()
            rgb = _flatten(ImageOps.exif_transpose(img))
        except Image.DecompressionBombError:
            raise too_many from None
        except Exception:
            raise unreadable from None
    png = png_bytes(rgb)
    return InputImage(png=png, width=rgb.width, height=rgb.height, source_format=fmt,
                      sha256=hashlib.sha256(png).hexdigest())


def _name(fmt: str) -> str:
    return "WebP" if fmt == "WEBP" else fmt


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white and 16-bit grey scaled to 8 bits."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        img = img.convert("I").point(lambda v: v / 256).convert("L")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def style_reference_problem(refs: Sequence[str], has_images: bool, ip_adapter: str) -> str | None:
    """Why `--sref refs` cannot be used here (one line for the user), or None: style references need an
    IP-Adapter, are https image links (not style codes), and do not mix with image prompts."""
    if not ip_adapter.strip():
        return "--sref needs an IP-Adapter, and none is configured here (gen.ip_adapter)"
    codes = [r for r in refs if not r.lower().startswith("https://")]
    if codes:
        return f"--sref takes https image links; style codes such as {codes[0][:40]} are not supported here"
    if has_images:
        return "use image prompts or --sref in one prompt, not both"
    return None


# /blend and `imaginebot blend`: 2–5 images mixed into a 2×2 grid, at Midjourney's three dimensions.
BLEND_DIMENSIONS = {"square": "1:1", "portrait": "2:3", "landscape": "3:2"}
BLEND_IMAGES = (2, 5)


def blend_prompt(count: int, dimensions: str = "square") -> str:
    """The prompt a blend of `count` images runs as (its images are its image prompts); InputImageError
    for a count outside 2–5 or unknown dimensions."""
    low, high = BLEND_IMAGES
    if not low <= count <= high:
        raise InputImageError(f"a blend needs {low} to {high} images, not {count}")
    ratio = BLEND_DIMENSIONS.get(dimensions)
    if ratio is None:
        raise InputImageError(f"dimensions must be {', '.join(BLEND_DIMENSIONS)}, not {dimensions!r}")
    return f"a blend of {count} images --ar {ratio}"


def control_problem(kind: str, images: int, configured: Mapping[str, str], style: bool = False) -> str | None:
    """Why `--cn kind` with `images` images cannot run here (one line for the user), or None: its kind
    needs a ControlNet in `gen.controlnets`, and exactly one image (attached, a leading link, or
    `--cn-image`), which is its control map; it does not mix with --sref."""
    if not str(configured.get(kind, "")).strip():
        return f"--cn {kind}: no ControlNet is configured for it here (gen.controlnets.{kind})"
    if images == 0:
        return f"--cn {kind} needs an image: attach one or start the prompt with its link"
    if images > 1:
        return f"--cn {kind} takes one image, its control map, not {images}"
    if style:
        return "use --cn or --sref in one prompt, not both"
    return None


def control_map_png(kind: str, png: bytes) -> bytes:
    """The control map of an image for `--cn kind`: canny's edge map (imaginebot.core.canny, computed
    here, never on the worker); the other kinds take the image itself."""
    if kind != "canny":
        return png
    from imaginebot.core.canny import canny_map

    return png_bytes(canny_map(png))

