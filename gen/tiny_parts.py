"""Building blocks shared by the tiny models (gen.tiny, gen.tiny_families): the CLIP text encoder, the
autoencoding skeleton of the VAEs, and the linear-tail tricks the tiny UNet's pass-through shares with it.

A purely random VAE is no autoencoder — decode(encode(x)) would have nothing to do with x — and img2img
(variations, upscales) could not be tested. `autoencoding_vae` lays a designed skeleton over the random
weights: the main path averages 2×2 blocks on the way down and upsamples smoothly on the way up, with
the random residual branches scaled to a whisper, so a picture survives the round trip, blurred. Latents
0-2 carry RGB and latent 3 their mean; a VAE with more latent channels (SD3, FLUX: 16) leaves the rest 0.
"""

from __future__ import annotations

from typing import Any

import torch

# Residual branches (resnet conv2, attention out-projection) keep their random init times this.
RESIDUAL_SCALE = 0.05
# The VAE's GroupNorm → SiLU → conv_out tails are made (nearly) linear: channel 3 carries a large
# constant K that dominates each group's mean and spread, so the normalisation becomes a fixed affine map
# instead of a per-image one, and SiLU is used around β0 = 4 where it is close to a straight line.
GN_K, GN_BETA0, GN_SLOPE = 200.0, 4.0, 0.1
VAE_GROUPS = 2


def silu_at(x: float) -> tuple[float, float]:
    """SiLU(x) and its derivative at x."""
    s = 1.0 / (1.0 + float(torch.exp(torch.tensor(-x))))
    return x * s, s * (1 + x * (1 - s))


def _embed(conv: torch.nn.Conv2d, kernel: torch.Tensor) -> None:
    """Channel c of the output = `kernel` applied to input channel c (for c < min(in, out)); else 0."""
    conv.weight.zero_()
    kh, kw = conv.weight.shape[-2:]
    k = torch.zeros(kh, kw)
    oh, ow = (kh - kernel.shape[0]) // 2, (kw - kernel.shape[1]) // 2
    k[oh : oh + kernel.shape[0], ow : ow + kernel.shape[1]] = kernel
    for c in range(min(conv.in_channels, conv.out_channels)):
        conv.weight[c, c] = k
    if conv.bias is not None:
        conv.bias.zero_()


def _linear_tail(norm: Any, conv_out: Any, mix: torch.Tensor) -> None:
    """Make `conv_out(silu(norm(x)))` ≈ `mix @ x[0:3]` given channel 3 of x holds the constant GN_K."""
    n = norm.num_channels // norm.num_groups  # channels in group 0: RGB, K and zeros
    mu0, sigma = GN_K / n, GN_K * (n - 1) ** 0.5 / n
    norm.weight.fill_(1.0)
    norm.bias.zero_()
    norm.weight[:3] = GN_SLOPE * sigma
    norm.bias[:3] = GN_BETA0 + GN_SLOPE * mu0
    # (The group mean also holds the image's average RGB / n: a small global shift, left as is.)
    silu0, slope = silu_at(GN_BETA0)
    w = mix / (slope * GN_SLOPE)
    conv_out.weight.zero_()
    conv_out.bias.zero_()
    rows = w.shape[0]
    conv_out.weight[:rows, :3, 1, 1] = w
    conv_out.bias[:rows] = -w.sum(dim=1) * silu0


@torch.no_grad()
def autoencoding_vae(vae: Any, scaling_factor: float) -> None:
    """Overlay the randomly initialised VAE with an averaging/upsampling skeleton (see module docstring)."""
    from diffusers.models.attention_processor import Attention
    from diffusers.models.downsampling import Downsample2D
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.upsampling import Upsample2D

    one = torch.ones(1, 1)
    for module in vae.modules():
        m: Any = module  # diffusers' attribute types are looser than its annotations
        if isinstance(module, ResnetBlock2D):
            m.conv2.weight.mul_(RESIDUAL_SCALE)
            m.conv2.bias.zero_()
            if m.conv_shortcut is not None:
                _embed(m.conv_shortcut, one)
        elif isinstance(module, Attention):
            m.to_out[0].weight.mul_(RESIDUAL_SCALE)
            m.to_out[0].bias.zero_()
        elif isinstance(module, Downsample2D) and m.conv is not None:
            # stride-2 conv over rows/cols 2i..2i+2 (padded right/bottom): a 2×2 average of the block
            _embed(m.conv, torch.tensor([[0.25, 0.25, 0.0], [0.25, 0.25, 0.0], [0.0, 0.0, 0.0]]))
        elif isinstance(module, Upsample2D) and m.conv is not None:
            # nearest ×2 then a [1 2 1]² / 16 blur: bilinear-like upsampling; the constant channel is
            # only copied, so zero padding cannot erode it at the borders
            b = torch.tensor([1.0, 2.0, 1.0])
            _embed(m.conv, torch.outer(b, b) / 16)
            m.conv.weight[3, 3] = 0.0
            m.conv.weight[3, 3, 1, 1] = 1.0
    for conv in (vae.quant_conv, vae.post_quant_conv):  # (SD3's and FLUX's VAEs have none)
        if conv is not None:
            _embed(conv, one)
    # Encoder: RGB in channels 0-2, the constant in 3. Latents 0-2 = RGB, latent 3 = their mean (any
    # others 0), scaled so an image of spread 0.5 gives *scaled* latents of spread 1; log-variance -30:
    # exact sampling.
    enc = vae.encoder
    _embed(enc.conv_in, one)
    enc.conv_in.weight[3].zero_()
    enc.conv_in.bias[3] = GN_K
    gain = 2.0 / scaling_factor
    mix = torch.cat([torch.eye(3), torch.full((1, 3), 1 / 3)]) * gain
    _linear_tail(enc.conv_norm_out, enc.conv_out, mix)
    enc.conv_out.bias[vae.config.latent_channels :] = -30.0
    # Decoder: latents 0-2 → channels 0-2, latent 3 → channel 4, the constant in 3; RGB = latents / 2.
    dec = vae.decoder
    dec.conv_in.weight.zero_()
    dec.conv_in.bias.zero_()
    for c in range(3):
        dec.conv_in.weight[c, c, 1, 1] = 1.0
    dec.conv_in.weight[4, 3, 1, 1] = 1.0
    dec.conv_in.bias[3] = GN_K
    _linear_tail(dec.conv_norm_out, dec.conv_out, torch.eye(3) * (scaling_factor / 2))


def clip_text_encoder(seed: int, *, width: int, projection: bool) -> Any:
    """A small CLIP text model over the real CLIP vocabulary (`projection`: CLIPTextModelWithProjection)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from gen.tokenizer import VOCAB_SIZE

    config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=width,
        intermediate_size=width * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act="gelu" if projection else "quick_gelu",
        projection_dim=width,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    torch.manual_seed(seed)
    model = CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)
    return model.eval()


def tiny_vae(seed: int, scaling_factor: float, latent_channels: int = 4, **extra: Any) -> Any:
    """The tiny VAE (8/16/32/32, ×8) with `latent_channels` latents, laid over the autoencoding skeleton;
    `extra`: AutoencoderKL options of a family (SD 3/FLUX: shift_factor, no quant convs)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 32, 32),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=VAE_GROUPS,
        sample_size=512,
        scaling_factor=scaling_factor,
        **extra,
    )
    autoencoding_vae(vae, scaling_factor)
    return vae

