"""Which model family a loaded pipeline belongs to, and the parts of a pipeline that differ between them.

The engine serves four families of text-to-image pipelines, told apart by their class (a `from_pipe`
img2img or inpainting pipeline of a family has the family's prefix too):

- `"sd"`: Stable Diffusion 1.x/2.x — a UNet, one CLIP text encoder, 4 latent channels;
- `"sdxl"`: SDXL — a UNet, two CLIP text encoders (pooled + time-id conditioning), 4 latent channels;
- `"sd3"`: Stable Diffusion 3/3.5 — an MMDiT transformer, two CLIP encoders and T5, 16 latent channels,
  flow matching with classifier-free guidance;
- `"flux"`: FLUX.1 — an MMDiT transformer, CLIP (pooled only) and T5, 16 latent channels *packed* 2×2
  into tokens during sampling, flow matching; FLUX.1-dev's guidance is an input of the transformer
  (distilled guidance), so there is no negative prompt and no second pass.

SD and SDXL pipelines keep their denoiser in `unet`, SD3 and FLUX in `transformer`.
"""

from __future__ import annotations

from typing import Any, Literal

PipelineFamily = Literal["sd", "sdxl", "sd3", "flux"]

LABELS: dict[PipelineFamily, str] = {
    "sd": "Stable Diffusion 1.x/2.x",
    "sdxl": "SDXL",
    "sd3": "Stable Diffusion 3",
    "flux": "FLUX.1",
}


def pipeline_family(pipe: Any) -> PipelineFamily:
    """The family of a diffusers pipeline (see the module docstring)."""
    names = [cls.__name__ for cls in type(pipe).__mro__]
    if any(n.startswith("Flux") for n in names):
        return "flux"
    if any(n.startswith("StableDiffusion3") for n in names):
        return "sd3"
    return "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd"


def is_transformer_family(family: PipelineFamily) -> bool:
    """SD3 and FLUX: a transformer denoiser, 16 latent channels, flow matching."""
    return family in ("sd3", "flux")


def denoiser(pipe: Any) -> Any:
    """The pipeline's denoising network: its UNet (SD, SDXL) or its transformer (SD3, FLUX)."""
    unet = getattr(pipe, "unet", None)
    return unet if unet is not None else pipe.transformer
