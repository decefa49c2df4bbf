"""Tiny LoRAs and textual-inversion embeddings for the tiny SD 1.x model (gen.tiny), for tests and
benchmarks: random, but strong enough to visibly change the tiny model's pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

_UNET_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
_TE_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
# lora_B's spread, relative to the layer's own weights: large enough that a LoRA at weight 1 visibly
# changes the tiny model's pictures (its residual branches are whispers, see gen.tiny.RESIDUAL_SCALE).
LORA_STRENGTH = 3.0


def _lora_targets(model: Any, suffixes: tuple[str, ...]) -> list[tuple[str, torch.nn.Linear]]:
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.endswith(tuple("." + s for s in suffixes))
    ]


def make_tiny_lora(
    model_dir: str | Path,
    path: str | Path,
    *,
    rank: int = 4,
    kohya: bool = False,
    seed: int = 0,
    text_encoder: bool = True,
) -> Path:
    """Write a random LoRA for the tiny SD 1.x model in `model_dir` to `path` (`.safetensors`).

    It adapts the UNet's attention projections (to_q/k/v/out) and, with `text_encoder`, the text
    encoder's (q/k/v/out_proj). `kohya=False`: diffusers/peft key names (`unet.….lora_A.weight`,
    `lora_B`), as `save_lora_weights` writes them; `kohya=True`: A1111/kohya-ss names
    (`lora_unet_…​.lora_down.weight`, `lora_up`, `alpha` = rank) as civitai LoRAs ship. Deterministic
    for a seed; its weights change the tiny model's images visibly.
    """
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    folder = Path(model_dir)
    parts: list[tuple[str, Any, tuple[str, ...]]] = [
        ("unet", UNet2DConditionModel.from_pretrained(folder, subfolder="unet"), _UNET_LORA_TARGETS)
    ]
    if text_encoder:
        te = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")
        parts.append(("text_encoder", te, _TE_LORA_TARGETS))
    gen = torch.Generator("cpu").manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, model, suffixes in parts:
        for name, layer in _lora_targets(model, suffixes):
            out_f, in_f = layer.weight.shape
            spread = float(layer.weight.detach().float().std()) * LORA_STRENGTH
            down = torch.randn(rank, in_f, generator=gen) / in_f**0.5
            up = torch.randn(out_f, rank, generator=gen) * spread / rank**0.5
            if kohya:
                kohya_prefix = "lora_unet_" if prefix == "unet" else "lora_te_"
                key = kohya_prefix + name.replace(".", "_")
                tensors[f"{key}.lora_down.weight"] = down.contiguous()
                tensors[f"{key}.lora_up.weight"] = up.contiguous()
                tensors[f"{key}.alpha"] = torch.tensor(float(rank))
            else:
                tensors[f"{prefix}.{name}.lora_A.weight"] = down.contiguous()
                tensors[f"{prefix}.{name}.lora_B.weight"] = up.contiguous()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out))
    return out


def make_tiny_embedding(model_dir: str | Path, path: str | Path, *, vectors: int = 1, seed: int = 0) -> Path:
    """Write a random textual-inversion embedding (`vectors` token vectors) for the tiny SD 1.x model.

    `.safetensors`: `{"emb_params": (vectors, dim)}`; `.pt`/`.bin`: A1111's layout
    (`{"string_to_param": {"*": …}, "name": …}`). Its vectors are a few times the size of the text
    encoder's own token embeddings, so a prompt using it gives a visibly different picture.
    """
    from transformers import CLIPTextModel

    te = CLIPTextModel.from_pretrained(Path(model_dir), subfolder="text_encoder")
    embedding: Any = te.get_input_embeddings()
    table = embedding.weight.detach().float()
    gen = torch.Generator("cpu").manual_seed(seed)
    emb = torch.randn(vectors, table.shape[1], generator=gen) * float(table.std()) * 4
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({"emb_params": emb.contiguous()}, str(out))
    else:
        torch.save({"string_to_param": {"*": emb}, "name": out.stem, "step": 0}, out)
    return out
