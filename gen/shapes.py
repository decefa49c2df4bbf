"""Random-weight pipelines with the real architectures' sizes, for benchmarks (`make-tiny-model --shape`).

The cost of a denoising step, a VAE decode or a text encoding does not depend on the weights' values,
only on the layers' sizes. These pipelines have Stable Diffusion 1.5's and SDXL's exact shapes
(diffusers' published configs), so throughput, batching gain and memory are measured on the real
compute without downloading a checkpoint. Their pictures are noise.

- `sd15`: UNet 320/640/1280/1280 (cross-attention 768, 8 heads), a 12-layer 768-wide CLIP text encoder,
  the 128/256/512/512 VAE; about 1.07 G parameters.
- `sdxl`: UNet 320/640/1280 with 1/2/10 transformer layers (cross-attention 2048, "text_time"
  conditioning), CLIP ViT-L (768, 12 layers) and OpenCLIP bigG (1280, 32 layers, projection 1280) text
  encoders, the same VAE with SDXL's scaling factor; about 3.5 G parameters.

Weights are drawn in float32 and saved in `dtype` (float16 by default: half the disk and load time;
loading them as float32 is exact up to the rounding of the saved values, which a benchmark does not see).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

SHAPES = ("sd15", "sdxl")


def _vae(scaling_factor: float, sample_size: int) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=sample_size,
        scaling_factor=scaling_factor,
    )


def _clip(width: int, layers: int, heads: int, *, projection: bool, act: str) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=width,
        intermediate_size=width * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=width,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def shaped_unet(shape: str) -> Any:
    from diffusers import UNet2DConditionModel

    if shape == "sd15":  # diffusers' default UNet config is SD 1.x's but for the text width (768 in SD 1.5)
        return UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
    return UNet2DConditionModel(
        sample_size=128,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        cross_attention_dim=2048,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )


def shaped_modules(shape: str) -> dict[str, Any]:
    """The torch modules of `shape` (SHAPES) with random weights: unet, vae, text_encoder(s).

    Built under `torch.device("meta")` they cost no memory (sizes and FLOP counts only)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown model shape {shape!r} (use {', '.join(SHAPES)})")
    modules = {
        "unet": shaped_unet(shape),
        "vae": _vae(0.18215 if shape == "sd15" else 0.13025, 512 if shape == "sd15" else 1024),
        "text_encoder": _clip(768, 12, 12, projection=False, act="quick_gelu"),
    }
    if shape == "sdxl":
        modules["text_encoder_2"] = _clip(1280, 32, 20, projection=True, act="gelu")
    return modules


def build_shaped_pipeline(shape: str, seed: int = 0) -> Any:
    """The random-weight pipeline of `shape` (SHAPES) in memory, float32, deterministic for a seed."""
    from gen.tiny import SD_SCHEDULER
    from gen.tokenizer import clip_tokenizer

    torch.manual_seed(seed)
    modules = shaped_modules(shape)
    if shape == "sd15":
        from diffusers import PNDMScheduler, StableDiffusionPipeline

        return StableDiffusionPipeline(
            **modules,
            tokenizer=clip_tokenizer(),
            scheduler=PNDMScheduler(**SD_SCHEDULER, skip_prk_steps=True, set_alpha_to_one=False),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline(
        **modules,
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        scheduler=EulerDiscreteScheduler(
            **SD_SCHEDULER, timestep_spacing="leading", interpolation_type="linear", use_karras_sigmas=False
        ),
        force_zeros_for_empty_prompt=True,
    )


def make_shaped_model(dir: str | Path, shape: str, *, seed: int = 0, dtype: str = "float16") -> Path:
    """Write the random-weight pipeline of `shape` to `dir` (diffusers layout); return the folder."""
    from gen.quiet import quiet_progress_bars
    from gen.tokenizer import write_clip_tokenizer_files

    quiet_progress_bars()
    import diffusers

    diffusers.utils.logging.set_verbosity_error()  # its float16 cast notes are not for an operator
    pipe = build_shaped_pipeline(shape, seed)
    pipe.to(getattr(torch, dtype))
    folder = Path(dir)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder, safe_serialization=True)
    for sub in ("tokenizer", "tokenizer_2") if shape == "sdxl" else ("tokenizer",):
        write_clip_tokenizer_files(folder / sub)
    return folder


def parameter_count(pipe: Any) -> dict[str, int]:
    """Parameters per torch module of a pipeline (unet, vae, text_encoder…)."""
    counts = {}
    for name, module in pipe.components.items():
        if isinstance(module, torch.nn.Module):
            counts[name] = sum(p.numel() for p in module.parameters())
    return counts
