"""ControlNet (`--cn canny|depth|pose|scribble|tile`): load one from `gen.controlnets.<kind>` and derive a
ControlNet pipeline from the loaded text-to-image pipeline.

`controlnet_pipeline` uses diffusers' `from_pipe`, so the ControlNet pipeline shares the base pipeline's
UNet, VAE, text encoder(s), tokenizer(s) and scheduler config — no second copy of the weights; only the
ControlNet itself is extra. The base pipeline is not modified. To free a ControlNet, drop both the
ControlNet pipeline and the ControlNet object (nothing else refers to them); `unload_controlnet` does the
pipeline side and empties the accelerator cache.

SD 1.x/2.x pipelines get `StableDiffusionControlNetPipeline`, SDXL ones
`StableDiffusionXLControlNetPipeline`. SD3, FLUX and dedicated inpainting models (9-channel UNet) are
refused with a ModelLoadError: their ControlNets are different model classes.
"""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path
from typing import Any

import torch

from gen.family import pipeline_family
from gen.loader import ModelLoadError, _looks_like_path, _one_line, load_error
from gen.quiet import quiet_progress_bars

log = logging.getLogger(__name__)

CONTROL_KINDS = ("canny", "depth", "pose", "scribble", "tile")


def _setting(kind: str) -> str:
    return f"gen.controlnets.{kind}"


def load_controlnet(
    ref: str | Path,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    *,
    kind: str = "canny",
) -> Any:
    """The `ControlNetModel` at `ref` (a local diffusers folder or a Hugging Face id) on `device`.

    Every failure is a one-line ModelLoadError naming the setting `gen.controlnets.<kind>`.
    """
    from diffusers import ControlNetModel

    quiet_progress_bars()
    setting = _setting(kind)
    text = str(ref).strip()
    if not text:
        raise ModelLoadError(f"{setting} is empty: set it to a ControlNet folder or Hugging Face id")
    path = Path(text).expanduser()
    local = path.is_dir()
    if local:
        config = path / "config.json"
        if not config.is_file():
            raise ModelLoadError(f"{setting}: {path} is not a diffusers ControlNet folder (no config.json)")
        try:
            class_name = json.loads(config.read_text(encoding="utf-8")).get("_class_name", "")
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{setting}: {config} is not valid JSON: {_one_line(exc)}") from exc
        if class_name != "ControlNetModel":
            raise ModelLoadError(
                f"{setting}: {path} holds a {class_name or 'unknown'} model, not a ControlNet"
            )
    elif path.exists() or _looks_like_path(text):
        raise ModelLoadError(f"{setting}: {text} is not a folder (a diffusers ControlNet folder or an id)")
    try:
        controlnet = ControlNetModel.from_pretrained(str(path) if local else text, dtype=dtype)
    except Exception as exc:
        raise load_error(setting, "ControlNet", text, exc, local=local) from exc
    try:
        controlnet.to(torch.device(device))
    except RuntimeError as exc:
        raise ModelLoadError(f"{setting}: cannot move the ControlNet to {device}: {_one_line(exc)}") from exc
    log.info("loaded ControlNet %s for %s on %s", text, kind, device)
    return controlnet.eval()


def controlnet_pipeline(pipe_t2i: Any, controlnet: Any, *, kind: str = "canny") -> Any:
    """The ControlNet pipeline over `pipe_t2i`'s modules (shared, not copied) and `controlnet`."""
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionXLControlNetPipeline

    family = pipeline_family(pipe_t2i)
    unet = getattr(pipe_t2i, "unet", None)
    if family not in ("sd", "sdxl") or unet is None:
        raise ModelLoadError(
            f"{_setting(kind)}: ControlNet works with Stable Diffusion 1.x/2.x and SDXL models, "
            f"not {type(pipe_t2i).__name__}"
        )
    if unet.config.in_channels != controlnet.config.in_channels:
        raise ModelLoadError(
            f"{_setting(kind)}: the model's UNet takes {unet.config.in_channels} input channels "
            "(an inpainting model?); ControlNet needs a text-to-image model"
        )
    if unet.config.cross_attention_dim != controlnet.config.cross_attention_dim:
        raise ModelLoadError(
            f"{_setting(kind)}: this ControlNet is for another model family (cross-attention width "
            f"{controlnet.config.cross_attention_dim}, the model's is {unet.config.cross_attention_dim})"
        )
    cls = StableDiffusionXLControlNetPipeline if family == "sdxl" else StableDiffusionControlNetPipeline
    pipe = cls.from_pipe(pipe_t2i, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def unload_controlnet(pipe_cn: Any) -> None:
    """Detach the ControlNet from a ControlNet pipeline (it is freed once the caller drops its own
    reference) and release cached accelerator memory."""
    pipe_cn.controlnet = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
