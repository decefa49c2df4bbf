"""Tiny random-weight SD 3/3.5 and FLUX.1 pipelines (gen.tiny builds SD 1.x and SDXL), offline and fast.

Both have their family's real *shape*, only narrow, so every code path of the real pipelines runs:

- VAE: the tiny SD VAE (four blocks, ×8) with 16 latent channels, no quant convs (as SD3's and FLUX's
  VAEs), each family's `scaling_factor` and `shift_factor`, over the same autoencoding skeleton
  (gen.tiny_parts): latents 0-3 carry the picture, the other twelve are zero, so a
  picture survives encode → decode and img2img (variations, upscales) is checked as for SD.
- SD3 (StableDiffusion3Pipeline): an SD3Transformer2DModel (patch 2, two joint blocks, QK RMS-norm as
  in 3.5) over two CLIPTextModelWithProjection encoders (32 and 64 wide; pooled 96) and a T5 encoder
  (128 wide: SD3 pads the CLIP features to T5's width and appends T5's tokens), FlowMatchEuler with
  SD3's shift 3. Native size 512 (sample_size 64), like the tiny SDXL, so it stays fast on a CPU.
- FLUX (FluxPipeline): a FluxTransformer2DModel (one double and two single blocks, rotary axes 4/6/6)
  with `guidance_embeds` like FLUX.1-dev (guidance is a transformer input, no negative prompt), a
  CLIPTextModel (pooled output only) and a T5 encoder (64 wide), FlowMatchEuler with FLUX's dynamic
  (resolution-dependent) shift 0.5…1.15. Its native size is FLUX's own 1024 (FluxPipeline fixes
  `default_sample_size`), so callers give sizes explicitly.

Tokenizers work offline: the real CLIP tokenizer (gen.tokenizer.clip_tokenizer) and, in the T5 slots, a
real transformers T5Tokenizer over a small Unigram vocabulary built in code (gen.tokenizer.t5_tokenizer):
T5's SentencePiece model itself cannot be made without a download. Transformers and text encoders are
random (seeded): the pictures are noise-like colour fields — good for seeds, batching and plumbing, not
aesthetics. Deterministic for a given seed.
"""

from __future__ import annotations

from typing import Any

import torch

from gen.tiny_parts import clip_text_encoder, tiny_vae

LATENT_CHANNELS = 16
SD3_VAE = {"scaling_factor": 1.5305, "shift_factor": 0.0609}
FLUX_VAE = {"scaling_factor": 0.3611, "shift_factor": 0.1159}
SD3_SCHEDULER: dict[str, Any] = {"num_train_timesteps": 1000, "shift": 3.0}
FLUX_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.5,
    "max_shift": 1.15,
    "base_image_seq_len": 256,
    "max_image_seq_len": 4096,
}


def _vae16(seed: int, scaling_factor: float, shift_factor: float) -> Any:
    return tiny_vae(
        seed,
        scaling_factor,
        LATENT_CHANNELS,
        shift_factor=shift_factor,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )


def _t5_encoder(seed: int, width: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    from gen.tokenizer import t5_vocab

    config = T5Config(
        vocab_size=len(t5_vocab()),
        d_model=width,
        d_ff=width * 2,
        d_kv=width // 4,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        feed_forward_proj="gated-gelu",  # T5 v1.1, the encoder of SD3 and FLUX
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(seed)
    return T5EncoderModel(config).eval()


def _scheduler(config: dict[str, Any]) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**config)


def build_tiny_sd3(seed: int = 0) -> Any:
    """The tiny StableDiffusion3Pipeline (see the module docstring)."""
    from diffusers import SD3Transformer2DModel, StableDiffusion3Pipeline

    from gen.tokenizer import clip_tokenizer, t5_tokenizer

    te1 = clip_text_encoder(seed + 1, width=32, projection=True)
    te2 = clip_text_encoder(seed + 4, width=64, projection=True)
    te3 = _t5_encoder(seed + 5, width=128)
    torch.manual_seed(seed + 3)
    transformer: Any = SD3Transformer2DModel(
        sample_size=64,
        patch_size=2,
        in_channels=LATENT_CHANNELS,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=128,
        caption_projection_dim=32,
        pooled_projection_dim=32 + 64,
        out_channels=LATENT_CHANNELS,
        pos_embed_max_size=128,  # up to 2048 px a side
        qk_norm="rms_norm",
    )
    return StableDiffusion3Pipeline(
        transformer=transformer.eval(),
        scheduler=_scheduler(SD3_SCHEDULER),
        vae=_vae16(seed + 2, **SD3_VAE),
        text_encoder=te1,
        tokenizer=clip_tokenizer(),
        text_encoder_2=te2,
        tokenizer_2=clip_tokenizer(pad_token="!"),
        text_encoder_3=te3,
        tokenizer_3=t5_tokenizer(),
    )


def build_tiny_flux(seed: int = 0) -> Any:
    """The tiny FluxPipeline (see the module docstring)."""
    from diffusers import FluxPipeline, FluxTransformer2DModel

    from gen.tokenizer import clip_tokenizer, t5_tokenizer

    te1 = clip_text_encoder(seed + 1, width=32, projection=False)
    te2 = _t5_encoder(seed + 5, width=64)
    torch.manual_seed(seed + 3)
    transformer: Any = FluxTransformer2DModel(
        patch_size=1,
        in_channels=LATENT_CHANNELS * 4,  # 2×2 packed latents
        num_layers=1,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=64,
        pooled_projection_dim=32,
        guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),
    )
    return FluxPipeline(
        scheduler=_scheduler(FLUX_SCHEDULER),
        vae=_vae16(seed + 2, **FLUX_VAE),
        text_encoder=te1,
        tokenizer=clip_tokenizer(),
        text_encoder_2=te2,
        tokenizer_2=t5_tokenizer(),
        transformer=transformer.eval(),
    )
