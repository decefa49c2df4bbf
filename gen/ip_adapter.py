"""IP-Adapter image prompts (`--iw`, `--sref`/`--sw`) through diffusers' own IP-Adapter support, and the
img2img fallback for `--iw` when no IP-Adapter (`gen.ip_adapter`) is configured.

- `load_ip_adapter` / `set_scale` / `unload` wrap `pipe.load_ip_adapter`, `pipe.set_ip_adapter_scale` and
  `pipe.unload_ip_adapter`. Loading changes the pipeline's UNet in place (attention processors and an
  image projection); every `from_pipe` pipeline sharing that UNet sees it, but only the pipeline it was
  loaded into gets the image encoder. After `unload` the UNet is back to its plain attention and the
  pipeline's image encoder and (when it had none) feature extractor are gone: generation is
  bit-identical to before loading.
- `image_embeds` encodes reference images ONCE, in diffusers' own format for one adapter: a tensor
  `(2, n_images, dim)` holding the unconditional (zero) embeddings then the image embeddings. It can be
  stored with a job (`embeds_to_bytes` / `embeds_from_bytes`, safetensors) and passed on any later call
  as `ip_adapter_image_embeds=call_embeds(embeds, guidance)` instead of `ip_adapter_image=`; the
  result is identical to passing the images. Several images of one prompt (`image` + `image2`,
  `/blend`) each give 4 tokens; the UNet attends to all of them.

Midjourney's weights mapped to scales (piecewise linear, monotone increasing, clamped to the range):

    --iw   0     0.5    1 (default)   2      3
    scale  0.0   0.25   0.5           0.75   1.0       (IP-Adapter scale; 0.5 ≈ the usual "balanced")
    strength 1.0 0.875  0.75          0.55   0.35      (img2img fallback: higher --iw = closer to the image)

    --sw   0     50     100 (default) 550    1000
    style  0.0   0.25   0.5           0.75   1.0       (IP-Adapter scale on the style layers only)

Style references use InstantStyle's layer choice where the UNet has SDXL's layout (the middle
transformer of the first up block); other UNets get the scale on all up-block attention layers.
"""

from __future__ import annotations

import io
import itertools
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gen.loader import ModelLoadError, _one_line, load_error

SETTING = "gen.ip_adapter"
DEFAULT_IMAGE_ENCODER = "image_encoder"
EMBEDS_KEY = "ip_adapter_image_embeds"
IW_RANGE = (0.0, 3.0)
SW_RANGE = (0.0, 1000.0)
# (weight, value) knots of the piecewise-linear maps documented above.
_IW_SCALE = ((0.0, 0.0), (1.0, 0.5), (3.0, 1.0))
_IW_STRENGTH = ((0.0, 1.0), (1.0, 0.75), (3.0, 0.35))
_SW_SCALE = ((0.0, 0.0), (100.0, 0.5), (1000.0, 1.0))
MIN_STRENGTH = 0.05  # img2img with strength → 0 runs no denoising step at all

# Feature extractor each pipeline had before `load_ip_adapter` (restored by `unload`).
_before: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _interpolate(x: float, knots: Sequence[tuple[float, float]]) -> float:
    lo, hi = knots[0][0], knots[-1][0]
    x = min(max(float(x), lo), hi)
    for (x0, y0), (x1, y1) in itertools.pairwise(knots):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return knots[-1][1]


def iw_to_scale(iw: float) -> float:
    """`--iw` (0–3, clamped) → IP-Adapter scale 0–1 (iw 1 → 0.5)."""
    return _interpolate(iw, _IW_SCALE)


def sw_to_style_scale(sw: float) -> float:
    """`--sw` (0–1000, clamped) → style-layer IP-Adapter scale 0–1 (sw 100 → 0.5)."""
    return _interpolate(sw, _SW_SCALE)


def iw_to_strength(iw: float) -> float:
    """`--iw` (0–3, clamped) → img2img strength for the no-IP-Adapter fallback: 1.0 at iw 0, 0.75 at 1,
    0.35 at 3; lower strength keeps more of the image. Always within diffusers' (0, 1]."""
    return min(1.0, max(MIN_STRENGTH, _interpolate(iw, _IW_STRENGTH)))


def load_ip_adapter(
    pipe: Any,
    ref: str | Path,
    weight_name: str,
    *,
    subfolder: str = "",
    image_encoder_folder: str | None = DEFAULT_IMAGE_ENCODER,
) -> None:
    """Load an IP-Adapter into `pipe` with diffusers' `load_ip_adapter`.

    `ref` is a local folder or a Hugging Face id (e.g. `h94/IP-Adapter` with subfolder `models` and
    weight_name `ip-adapter_sd15.safetensors`); the CLIP image encoder is `image_encoder_folder` inside
    `subfolder`, or that path from `ref` when it contains a `/` (diffusers' rule). Failures become a
    one-line ModelLoadError naming `gen.ip_adapter`.
    """
    text = str(ref).strip()
    if not text:
        raise ModelLoadError(f"{SETTING} is empty: set it to an IP-Adapter folder or Hugging Face id")
    path = Path(text).expanduser()
    local = path.is_dir()
    if local and not (path / subfolder / weight_name).is_file():
        raise ModelLoadError(f"{SETTING}: no {Path(subfolder, weight_name).as_posix()} in {path}")
    had = getattr(pipe, "feature_extractor", None)
    try:
        pipe.load_ip_adapter(
            str(path) if local else text,
            subfolder=subfolder,
            weight_name=weight_name,
            image_encoder_folder=image_encoder_folder,
        )
    except Exception as exc:
        raise load_error(SETTING, "IP-Adapter", text, exc, local=local) from exc
    _before[pipe] = had


def is_loaded(pipe: Any) -> bool:
    """Whether `pipe`'s UNet has an IP-Adapter loaded."""
    unet = getattr(pipe, "unet", None)
    return (
        unet is not None
        and getattr(unet, "encoder_hid_proj", None) is not None
        and (getattr(unet.config, "encoder_hid_dim_type", None) == "ip_image_proj")
    )


def set_scale(pipe: Any, scale: float) -> None:
    """The IP-Adapter's weight on every cross-attention layer (0: no effect)."""
    pipe.set_ip_adapter_scale(float(scale))


def style_scale_config(pipe: Any, scale: float) -> dict[str, Any]:
    """The per-layer scale of a style reference (see the module docstring)."""
    unet = pipe.unet
    up0 = unet.up_blocks[0] if len(unet.up_blocks) else None
    layers = len(getattr(up0, "attentions", ()) or ())
    if layers == 3:  # SDXL's layout: InstantStyle's style layer
        return {"up": {"block_0": [0.0, float(scale), 0.0]}}
    return {"up": float(scale)}


def set_style_scale(pipe: Any, scale: float) -> None:
    """The IP-Adapter's weight for a style reference: style layers only, the others 0."""
    pipe.set_ip_adapter_scale(style_scale_config(pipe, scale))


def unload(pipe: Any) -> None:
    """Remove the IP-Adapter (`pipe.unload_ip_adapter()`), and the feature extractor it brought."""
    pipe.unload_ip_adapter()
    previous = _before.pop(pipe, None)
    if getattr(pipe, "feature_extractor", None) is not previous and hasattr(pipe, "feature_extractor"):
        if getattr(pipe, "safety_checker", None) is None:  # a safety checker still needs its extractor
            pipe.register_modules(feature_extractor=previous)


def _rgb(image: Image.Image | bytes) -> Image.Image:
    if isinstance(image, bytes | bytearray):
        img = Image.open(io.BytesIO(image))
        img.load()
        image = img
    return image.convert("RGB")


@torch.no_grad()
def image_embeds(pipe: Any, images: Sequence[Image.Image | bytes] | Image.Image | bytes) -> torch.Tensor:
    """The embeddings of one or more reference images for the loaded (single) IP-Adapter, computed once
    through `pipe.prepare_ip_adapter_image_embeds`: shape (2, n_images, dim), unconditional first."""
    if not is_loaded(pipe) or getattr(pipe, "image_encoder", None) is None:
        raise ModelLoadError(f"no IP-Adapter with an image encoder is loaded (set {SETTING})")
    items = [images] if isinstance(images, Image.Image | bytes | bytearray) else list(images)
    if not items:
        raise ValueError("image_embeds needs at least one image")
    rgb = [_rgb(i) for i in items]
    device = pipe.image_encoder.device
    [embeds] = pipe.prepare_ip_adapter_image_embeds([rgb], None, device, 1, True)
    return embeds


def call_embeds(
    embeds: torch.Tensor, guidance: bool, device: Any = None, dtype: Any = None
) -> list[torch.Tensor]:
    """`ip_adapter_image_embeds` for a pipeline call from `image_embeds`' tensor: as is with classifier-free
    guidance (guidance_scale > 1), else only the image half."""
    out = embeds if guidance else embeds.chunk(2)[1]
    return [out.to(device=device, dtype=dtype)]


def embeds_to_bytes(embeds: torch.Tensor) -> bytes:
    """The embeddings as safetensors bytes (dtype and shape kept)."""
    from safetensors.torch import save

    return bytes(save({EMBEDS_KEY: embeds.detach().to("cpu").contiguous()}))


def embeds_from_bytes(data: bytes) -> torch.Tensor:
    """The embeddings written by `embeds_to_bytes` (on the CPU)."""
    from safetensors.torch import load

    try:
        return load(data)[EMBEDS_KEY]
    except Exception as exc:
        raise ValueError(f"not stored IP-Adapter embeddings: {_one_line(exc)}") from exc
