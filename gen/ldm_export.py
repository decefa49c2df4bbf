"""Export a diffusers SD 1.x / SDXL pipeline as one original-layout (LDM/CompVis) checkpoint.

Most community checkpoints (civitai and the like) ship as a single `.safetensors` in the original
Stable Diffusion key layout (`model.diffusion_model.input_blocks.…`, `first_stage_model.…`,
`cond_stage_model.transformer.…`, and for SDXL `conditioner.embedders.{0,1}.…` with OpenCLIP names for
the second text encoder). To test our single-file loading path offline we need such a file, so this module
is the inverse of diffusers' `single_file_utils` conversion (`convert_ldm_unet_checkpoint`,
`convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`, `convert_open_clip_checkpoint`) for the blocks
SD-shaped models have. `from_single_file(path, config=<diffusers folder>)` reads the result back to the
very same weights (tests compare generated images).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

Tensors = dict[str, torch.Tensor]

_RESNET_UNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}


def _resnet_unet(rest: str) -> str:
    head, _, tail = rest.partition(".")
    for new, old in _RESNET_UNET:
        if head == new:
            return f"{old}.{tail}"
    raise KeyError(rest)


def unet_to_ldm(state: Tensors, config: dict[str, Any]) -> Tensors:
    """diffusers UNet2DConditionModel keys → `model.diffusion_model.*` keys (input/middle/output blocks)."""
    per = int(config["layers_per_block"]) + 1  # LDM slots per down block: resnets (+attn) then downsampler
    up_has_attn = {i: "CrossAttn" in t for i, t in enumerate(config["up_block_types"])}
    out: Tensors = {}
    for key, value in state.items():
        ldm: str | None = None
        for new, old in _UNET_TOP.items():
            if key.startswith(new):
                ldm = old + key[len(new) :]
        if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            b, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            slot = 1 + b * per + j
            ldm = (
                f"input_blocks.{slot}.0.{_resnet_unet(rest)}"
                if kind == "resnets"
                else (f"input_blocks.{slot}.1.{rest}")
            )
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            ldm = f"input_blocks.{1 + int(m[1]) * per + per - 1}.0.op.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            ldm = f"middle_block.{2 * int(m[1])}.{_resnet_unet(m[2])}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            ldm = f"middle_block.1.{m[1]}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            b, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            slot = b * per + j
            ldm = (
                f"output_blocks.{slot}.0.{_resnet_unet(rest)}"
                if kind == "resnets"
                else (f"output_blocks.{slot}.1.{rest}")
            )
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            b = int(m[1])
            ldm = f"output_blocks.{b * per + per - 1}.{2 if up_has_attn[b] else 1}.conv.{m[2]}"
        if ldm is None:
            raise ValueError(f"no original-layout name for UNet key {key!r}")
        out["model.diffusion_model." + ldm] = value
    return out


def vae_to_ldm(state: Tensors, config: dict[str, Any]) -> Tensors:
    """diffusers AutoencoderKL keys → `first_stage_model.*` keys (attention projections as 1×1 convs)."""
    n_up = len(config["up_block_types"])
    out: Tensors = {}
    for key, value in state.items():
        ldm = key.replace("conv_norm_out", "norm_out")
        if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            ldm = f"encoder.down.{m[1]}.block.{m[2]}.{m[3]}"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            ldm = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            ldm = f"decoder.up.{n_up - 1 - int(m[1])}.block.{m[2]}.{m[3]}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            ldm = f"decoder.up.{n_up - 1 - int(m[1])}.upsample.conv.{m[2]}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
            ldm = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key):
            rest = m[2]
            for new, old in (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v")):
                rest = rest.replace(new + ".", old + ".")
            rest = rest.replace("to_out.0.", "proj_out.")
            ldm = f"{m[1]}.mid.attn_1.{rest}"
            if value.ndim == 2:  # LDM stores the attention projections as 1×1 convolutions
                value = value[:, :, None, None]
        ldm = ldm.replace("conv_shortcut", "nin_shortcut")
        out["first_stage_model." + ldm] = value
    return out


def clip_to_ldm(state: Tensors, prefix: str) -> Tensors:
    """transformers CLIPTextModel keys → `<prefix>text_model.*` (the HF names, as SD 1.x checkpoints keep)."""
    return {prefix + (k if k.startswith("text_model.") else "text_model." + k): v for k, v in state.items()}


def open_clip_to_ldm(state: Tensors, prefix: str) -> Tensors:
    """transformers CLIPTextModelWithProjection keys → OpenCLIP names (SDXL's second text encoder)."""
    out: Tensors = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    simple = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    for key, value in state.items():
        if key in simple:
            out[prefix + simple[key]] = value
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(\w+)", key):
            qkv.setdefault((m[1], m[3]), {})[m[2]] = value
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)", key):
            rest = (
                m[2]
                .replace("layer_norm1", "ln_1")
                .replace("layer_norm2", "ln_2")
                .replace("mlp.fc1", "mlp.c_fc")
                .replace("mlp.fc2", "mlp.c_proj")
                .replace("self_attn.out_proj", "attn.out_proj")
            )
            out[f"{prefix}transformer.resblocks.{m[1]}.{rest}"] = value
        else:
            raise ValueError(f"no OpenCLIP name for text encoder key {key!r}")
    for (layer, kind), parts in qkv.items():
        out[f"{prefix}transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]]
        )
    return out


def pipeline_to_ldm(pipe: Any) -> Tensors:
    """The whole pipeline's weights in original layout: UNet, VAE and text encoder(s)."""
    state = unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config))
    state.update(vae_to_ldm(pipe.vae.state_dict(), dict(pipe.vae.config)))
    if getattr(pipe, "text_encoder_2", None) is not None:
        state.update(clip_to_ldm(pipe.text_encoder.state_dict(), "conditioner.embedders.0.transformer."))
        state.update(open_clip_to_ldm(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model."))
    else:
        state.update(clip_to_ldm(pipe.text_encoder.state_dict(), "cond_stage_model.transformer."))
    return state


def save_single_file(pipe: Any, path: Path) -> Path:
    """Write `pipeline_to_ldm(pipe)` as one .safetensors file (float32, contiguous, no shared storage)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in pipeline_to_ldm(pipe).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path
