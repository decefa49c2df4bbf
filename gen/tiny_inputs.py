"""Tiny random-weight image-input components for the tiny models (gen.tiny): a ControlNet, an IP-Adapter
(with its CLIP image encoder) and an image-to-text captioner, built from configs, offline and fast.

Each is saved to disk in its standard layout, so tests exercise the real loading code:

- ControlNet: `ControlNetModel.from_unet` of the tiny UNet (diffusers `save_pretrained` folder). A fresh
  ControlNet's "zero convolutions" are zero, so it would not change anything; here they get small random
  weights, and its control-image encoder a larger gain, so the control image visibly shapes the picture.
- IP-Adapter: the plain (non-"plus") layout of h94/IP-Adapter: `ip-adapter_tiny.safetensors` with
  `image_proj.proj.*` / `image_proj.norm.*` (an ImageProjection to 4 tokens) and one
  `ip_adapter.<n>.to_k_ip.weight` / `to_v_ip.weight` pair per cross-attention layer, numbered 1, 3, 5, …
  in the UNet's attention-processor order (the original numbering counts self- and cross-attention
  layers together), plus `image_encoder/`, a small CLIPVisionModelWithProjection and its
  CLIPImageProcessor. diffusers' `load_ip_adapter` reads it as it reads the real one.
- Captioner: a VisionEncoderDecoderModel (a ViT encoder, a GPT-2 decoder with cross-attention) with a
  ViT image processor and the offline word-level tokenizer of gen.tokenizer (`t5_tokenizer`), so its
  random output decodes to words. It loads with `AutoModelForImageTextToText`, `AutoImageProcessor`
  and `AutoTokenizer` from the folder alone.

Deterministic for a given seed. The pictures they lead to are noise-like, like the tiny models'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

IP_ADAPTER_WEIGHT = "ip-adapter_tiny.safetensors"
IP_IMAGE_TOKENS = 4  # the plain IP-Adapter's image tokens (ImageProjection)
IMAGE_ENCODER_SIZE = 64
IMAGE_EMBED_DIM = 32  # the image encoder's projection_dim = image_proj's input width
CONDITIONING_CHANNELS = (8, 16, 32, 32)  # the ControlNet's control-image embedding (three ×2 downsamples)
# Spread of the otherwise-zero ControlNet convolutions (biases stay 0), relative to 1/sqrt(fan_in): large
# enough that the control image changes the tiny model's pictures clearly.
CONTROL_STRENGTH = 1.0
# The control-image encoder's convolutions are re-drawn at this gain (biases 0), so that a thin line in
# the control map does not average away in its three ×2 downsamples.
CONDITIONING_GAIN = 2.0
# The IP-Adapter's key/value projections, relative to 1/sqrt(fan_in).
IP_STRENGTH = 0.5
CAPTION_IMAGE_SIZE = 32


def _load_unet(model_dir: str | Path) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(Path(model_dir), subfolder="unet")


def _randomise(layer: Any, gen: torch.Generator, strength: float) -> None:
    weight = layer.weight
    fan_in = weight[0].numel()
    weight.copy_(torch.randn(weight.shape, generator=gen) * strength / fan_in**0.5)
    if getattr(layer, "bias", None) is not None:
        layer.bias.zero_()


@torch.no_grad()
def make_tiny_controlnet(model_dir: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a random ControlNet for the tiny model (SD 1.x or SDXL) in `model_dir` to `out_dir`."""
    from diffusers import ControlNetModel

    unet = _load_unet(model_dir)
    torch.manual_seed(seed)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=CONDITIONING_CHANNELS)
    gen = torch.Generator("cpu").manual_seed(seed)
    # The control-image encoder at CONDITIONING_GAIN, the zero convolutions at CONTROL_STRENGTH.
    for conv in controlnet.controlnet_cond_embedding.modules():
        if isinstance(conv, torch.nn.Conv2d):
            _randomise(conv, gen, CONDITIONING_GAIN)
    for conv in (*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block):
        _randomise(conv, gen, CONTROL_STRENGTH)
    out = Path(out_dir)
    controlnet.save_pretrained(out, safe_serialization=True)
    return out


def _cross_attention_widths(unet: Any) -> list[int]:
    """The hidden width of each cross-attention processor, in `unet.attn_processors` order (as diffusers'
    `_convert_ip_adapter_attn_to_diffusers` walks them)."""
    channels = list(unet.config.block_out_channels)
    widths = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor") or "motion_modules" in name:
            continue
        if name.startswith("mid_block"):
            widths.append(channels[-1])
        elif name.startswith("up_blocks"):
            widths.append(list(reversed(channels))[int(name[len("up_blocks.")])])
        else:
            widths.append(channels[int(name[len("down_blocks.")])])
    return widths


def tiny_image_encoder(seed: int) -> Any:
    """A small CLIPVisionModelWithProjection (64 px, patch 16, 32 wide, 2 layers, projection 32)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=IMAGE_ENCODER_SIZE,
        patch_size=16,
        projection_dim=IMAGE_EMBED_DIM,
    )
    torch.manual_seed(seed)
    return CLIPVisionModelWithProjection(config).eval()


@torch.no_grad()
def make_tiny_ip_adapter(model_dir: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a random plain IP-Adapter for the tiny model in `model_dir` to `out_dir` (see the module
    docstring): `out_dir/ip-adapter_tiny.safetensors` and `out_dir/image_encoder/`. Returns `out_dir`."""
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor

    unet = _load_unet(model_dir)
    cross = int(unet.config.cross_attention_dim)
    out = Path(out_dir)
    encoder_dir = out / "image_encoder"
    tiny_image_encoder(seed).save_pretrained(encoder_dir, safe_serialization=True)
    size = IMAGE_ENCODER_SIZE
    processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor.save_pretrained(encoder_dir)

    gen = torch.Generator("cpu").manual_seed(seed + 1)
    tensors: dict[str, torch.Tensor] = {
        "image_proj.proj.weight": torch.randn(IP_IMAGE_TOKENS * cross, IMAGE_EMBED_DIM, generator=gen)
        / IMAGE_EMBED_DIM**0.5,
        "image_proj.proj.bias": torch.randn(IP_IMAGE_TOKENS * cross, generator=gen) * 0.1,
        "image_proj.norm.weight": 1.0 + torch.randn(cross, generator=gen) * 0.1,
        "image_proj.norm.bias": torch.randn(cross, generator=gen) * 0.1,
    }
    for i, width in enumerate(_cross_attention_widths(unet)):
        key = 1 + 2 * i
        for proj in ("to_k_ip", "to_v_ip"):
            weight = torch.randn(width, cross, generator=gen) * IP_STRENGTH / cross**0.5
            tensors[f"ip_adapter.{key}.{proj}.weight"] = weight
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / IP_ADAPTER_WEIGHT))
    return out


@torch.no_grad()
def make_tiny_captioner(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a random image-to-text model (ViT encoder + GPT-2 decoder), its image processor and
    tokenizer to `out_dir`; loadable offline with the Auto classes. Returns `out_dir`."""
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    from gen.tokenizer import t5_tokenizer

    tokenizer = t5_tokenizer()
    pad, eos = int(tokenizer.pad_token_id), int(tokenizer.eos_token_id)
    encoder = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=CAPTION_IMAGE_SIZE,
        patch_size=8,
    )
    decoder = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=4,
        add_cross_attention=True,
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = pad
    config.pad_token_id = pad
    config.eos_token_id = eos
    torch.manual_seed(seed)
    model = VisionEncoderDecoderModel(config=config).eval()
    model.generation_config.decoder_start_token_id = pad
    model.generation_config.pad_token_id = pad
    model.generation_config.eos_token_id = eos
    out = Path(out_dir)
    model.save_pretrained(out, safe_serialization=True)
    size = CAPTION_IMAGE_SIZE
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
