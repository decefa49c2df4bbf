"""A tiny random-weight Stable Diffusion pipeline, built from configs, for offline use and tests.

It has Stable Diffusion's *shape*, only narrower, so every code path (tokenizer, text encoder, UNet with
cross-attention, ×8 VAE, scheduler, img2img, single-file conversion) is the real one:

- VAE: four blocks 8/16/32/32 (three downsamples → latents at 1/8 of the image, 4 channels), as in SD.
- UNet: channels 16/32/48/48, one layer per block, two attention heads; self/cross-attention only at
  1/16 of the image and below (plain DownBlock2D at 1/8). Attention at full latent resolution would be
  ~4 k tokens a layer and make CPU generation minutes instead of seconds.
- Text encoder: a 2-layer, 32-wide CLIP text model over the *real* CLIP tokenizer (49 408 tokens,
  see gen/tokenizer.py), so prompts tokenize exactly as with a real checkpoint.

SDXL variant (`sdxl=True`): two text encoders (32 and 64 wide — different widths, as in SDXL, so the
single-file loader can tell them apart), pooled + time-id conditioning ("text_time"), UNet 16/32/48.
Its native resolution is kept at 512 (not SDXL's 1024) so it stays fast on a CPU.

SD 3/3.5 and FLUX.1 (`family="sd3"` / `"flux"`): gen.tiny_families, with the same VAE skeleton.

Inpainting variant (`inpainting=True`, with or without `sdxl`): a dedicated inpainting checkpoint's
shape, a UNet with 9 input channels (noisy latents, the mask, the masked picture's latents), saved as
StableDiffusion(XL)InpaintPipeline as such checkpoints are. The extra channels enter through the random
conv_in weights only; the pass-through below works on the 4 latent channels.

UNet and text encoders have random (seeded) weights. The VAE is random too, but laid over a designed
skeleton (gen.tiny_parts): its main path averages 2×2 blocks on the way down and upsamples
smoothly on the way up, with the random residual branches scaled to a whisper. A purely random VAE
is no autoencoder — decode(encode(x)) would have nothing to do with x — and img2img (variations,
upscales) could not be tested; with the skeleton a picture survives the round trip, blurred, so a
subtle variation is measurably closer to its source than a strong one. Images are smooth colour
fields shaped by the random UNet — good for checking seeds, batching, parameters and plumbing, not
aesthetics.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from gen.quiet import quiet_progress_bars
from gen.tiny_parts import (
    GN_BETA0,
    GN_K,
    GN_SLOPE,
    RESIDUAL_SCALE,
    clip_text_encoder,
    silu_at,
    tiny_vae,
)

log = logging.getLogger(__name__)

TINY_DIRNAME = "tiny-sd"
INPAINT_CHANNELS = 9  # latents 4 + mask 1 + masked-image latents 4, as in SD's inpainting checkpoints
TINY_FAMILIES = ("sd15", "sdxl", "sd3", "flux")  # SD3 and FLUX: gen.tiny_families

SD_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
}


# How much of the deep UNet features (where time and text enter) the last layer's shortcut mixes in,
# and how much louder than at random init the cross-attention (the prompt) speaks in those features.
UNET_DEEP_MIX = 2.0
CROSS_ATTENTION_GAIN = 5.0


@torch.no_grad()
def _pass_through_unet(unet: Any) -> None:
    """Let the random UNet predict noise ≈ its noisy input, plus random text- and time-dependent terms.

    That is what a denoiser trained on pure-noise data would predict, and it keeps the sampler's
    latents at the unit scale real models produce (a plain random UNet predicts ~0.3× noise and the
    latents blow up ~10×). The final resnet's shortcut passes the conv_in copy of the latents straight
    to the output (with a constant partner channel per latent for the GroupNorm, as in the VAE tail)
    and mixes in the deep features at UNET_DEEP_MIX; cross-attention outputs are turned up by
    CROSS_ATTENTION_GAIN so the prompt visibly shapes the picture. Everything else stays random.
    """
    # The latents are the first out_channels inputs (an inpainting UNet appends mask and masked image).
    lat, width = unet.config.out_channels, unet.config.block_out_channels[0]
    last = unet.up_blocks[-1].resnets[-1]
    norm, conv_in, conv_out = unet.conv_norm_out, unet.conv_in, unet.conv_out
    if norm.num_channels // norm.num_groups != 2 or width < 2 * lat or last.conv_shortcut is None:
        raise ValueError("the pass-through UNet needs two channels per output GroupNorm group")
    for c in range(lat):  # conv_in channel 2c is an exact copy of latent c
        conv_in.weight[2 * c].zero_()
        conv_in.weight[2 * c, c, 1, 1] = 1.0
        conv_in.bias[2 * c] = 0.0
    shortcut = last.conv_shortcut
    skip = shortcut.in_channels - width  # the input is cat(deep features, conv_in output)
    shortcut.weight.mul_(UNET_DEEP_MIX)
    shortcut.weight[:, skip:] = 0.0
    shortcut.bias.zero_()
    for c in range(lat):
        shortcut.weight[2 * c, skip + 2 * c] = 1.0
        shortcut.bias[2 * c + 1] = GN_K
    last.conv2.weight.mul_(RESIDUAL_SCALE)
    last.conv2.bias.zero_()
    for name, module in unet.named_modules():
        if name.endswith("attn2.to_out.0"):
            module.weight.mul_(CROSS_ATTENTION_GAIN)
    mu0 = sigma = GN_K / 2
    norm.weight.fill_(1.0)
    norm.bias.zero_()
    silu0, slope = silu_at(GN_BETA0)
    conv_out.weight.zero_()
    conv_out.bias.zero_()
    for c in range(lat):
        norm.weight[2 * c] = GN_SLOPE * sigma
        norm.bias[2 * c] = GN_BETA0 + GN_SLOPE * mu0
        w = 1.0 / (slope * GN_SLOPE)
        conv_out.weight[c, 2 * c, 1, 1] = w
        conv_out.bias[c] = -w * silu0


def _unet_sd1(seed: int, cross_dim: int, in_channels: int = 4) -> Any:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32, 48, 48),
        layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=cross_dim,
        attention_head_dim=2,  # heads: few, wide heads are much faster in CPU SDPA
    )
    _pass_through_unet(unet)
    return unet


def _unet_sdxl(seed: int, cross_dim: int, pooled_dim: int, in_channels: int = 4) -> Any:
    from diffusers import UNet2DConditionModel

    time_dim = 8
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32, 48),
        layers_per_block=1,
        transformer_layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=cross_dim,
        attention_head_dim=2,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=time_dim * 6 + pooled_dim,
    )
    _pass_through_unet(unet)
    return unet


def build_tiny_pipeline(
    *, family: str | None = None, sdxl: bool = False, inpainting: bool = False, seed: int = 0
) -> Any:
    """The tiny pipeline in memory (deterministic for a given seed): StableDiffusion(XL)Pipeline, or
    StableDiffusion(XL)InpaintPipeline with a 9-channel UNet when `inpainting`; `family` "sd3" or
    "flux": the tiny StableDiffusion3Pipeline / FluxPipeline of gen.tiny_families."""
    from diffusers import EulerDiscreteScheduler, PNDMScheduler

    from gen.tokenizer import clip_tokenizer

    family = _family(family, sdxl=sdxl, inpainting=inpainting)
    if family in ("sd3", "flux"):
        from gen.tiny_families import build_tiny_flux, build_tiny_sd3

        return build_tiny_sd3(seed) if family == "sd3" else build_tiny_flux(seed)
    sdxl = family == "sdxl"
    in_channels = INPAINT_CHANNELS if inpainting else 4
    if not sdxl:
        from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

        sd_class = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
        text_encoder = clip_text_encoder(seed + 1, width=32, projection=False)
        return sd_class(
            vae=tiny_vae(seed + 2, 0.18215),
            text_encoder=text_encoder,
            tokenizer=clip_tokenizer(),
            unet=_unet_sd1(seed + 3, cross_dim=32, in_channels=in_channels),
            scheduler=PNDMScheduler(**SD_SCHEDULER, skip_prk_steps=True, set_alpha_to_one=False),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )

    from diffusers import StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline

    xl_class = StableDiffusionXLInpaintPipeline if inpainting else StableDiffusionXLPipeline
    te1 = clip_text_encoder(seed + 1, width=32, projection=False)
    te2 = clip_text_encoder(seed + 4, width=64, projection=True)
    return xl_class(
        vae=tiny_vae(seed + 2, 0.13025),
        text_encoder=te1,
        text_encoder_2=te2,
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        unet=_unet_sdxl(seed + 3, cross_dim=32 + 64, pooled_dim=64, in_channels=in_channels),
        scheduler=EulerDiscreteScheduler(
            **SD_SCHEDULER, timestep_spacing="leading", interpolation_type="linear", use_karras_sigmas=False
        ),
        force_zeros_for_empty_prompt=True,
    )


def _family(family: str | None, *, sdxl: bool, inpainting: bool) -> str:
    """The tiny model family asked for (`sdxl=True` is the older spelling of family "sdxl")."""
    family = family or ("sdxl" if sdxl else "sd15")
    if family not in TINY_FAMILIES or (sdxl and family != "sdxl"):
        raise ValueError(f"unknown tiny model family {family!r} (use {', '.join(TINY_FAMILIES)})")
    if inpainting and family not in ("sd15", "sdxl"):
        raise ValueError(f"a tiny inpainting model is sd15 or sdxl only, not {family}")
    return family


def make_tiny_model(
    dir: str | Path,
    *,
    family: str | None = None,
    sdxl: bool = False,
    inpainting: bool = False,
    single_file: str | Path | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write the tiny pipeline of `family` (TINY_FAMILIES; default sd15, or sdxl with `sdxl=True`) to `dir`
    (diffusers layout, model_index.json) and optionally `single_file`.

    `inpainting` (sd15/sdxl) makes it a dedicated inpainting model (9-channel UNet; see the module
    docstring). `single_file` (sd15/sdxl) gets the same weights as one original-layout (LDM key names)
    .safetensors checkpoint, as civitai-style models ship; load it with `from_single_file(path,
    config=str(dir))`. Returns the paths written. ValueError for a combination that does not exist.
    """
    from gen.tokenizer import write_clip_tokenizer_files

    family = _family(family, sdxl=sdxl, inpainting=inpainting)
    if single_file is not None and family not in ("sd15", "sdxl"):
        raise ValueError(f"a single-file export is sd15 or sdxl only, not {family}")
    quiet_progress_bars()
    folder = Path(dir)
    pipe = build_tiny_pipeline(family=family, inpainting=inpainting, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder, safe_serialization=True)
    # Also the classic vocab.json/merges.txt pair, so older transformers versions read the tokenizer too.
    for sub in ("tokenizer", "tokenizer_2") if family in ("sdxl", "sd3") else ("tokenizer",):
        write_clip_tokenizer_files(folder / sub)
    written = [folder]
    if single_file is not None:
        from gen.ldm_export import save_single_file

        written.append(save_single_file(pipe, Path(single_file)))
    return written


def tiny_model_dir(data_dir: Path) -> Path:
    """Build the tiny model into `<data_dir>/models/tiny-sd` unless it is there; return the folder.

    Built in a temporary sibling folder and renamed into place, so a crash or a second process building at
    the same time never leaves a half-written model behind.
    """
    target = Path(data_dir) / "models" / TINY_DIRNAME
    if (target / "model_index.json").is_file():
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-sd-", dir=target.parent))
    try:
        make_tiny_model(tmp / "m")
        try:
            os.rename(tmp / "m", target)
        except OSError:
            if not (target / "model_index.json").is_file():  # not a concurrent build that won: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built the tiny model in %s", target)
    return target
