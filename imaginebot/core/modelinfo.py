"""Facts about a configured model that can be read without torch or diffusers (JSON files only).

`gen.model` is one of: `tiny` (the built-in small model), a local diffusers folder, a single-file
`.safetensors` checkpoint, or a Hugging Face id. From it we learn:

- `base_resolution(model)`: the side of the square image the model was trained at. A diffusers folder:
  `unet/config.json` `sample_size` × the VAE scale factor, 2 ** (len(vae `block_out_channels`) - 1).
  A single file: 1024 for SDXL, else 512. A Hugging Face id: the folder rule applied to its snapshot in
  the local Hugging Face cache, or, when it is not cached, 1024 if the name contains "xl", else 512.
- `architecture(model)`: "sdxl" or "sd1", by the same facts (an SDXL single file has
  `conditioner.embedders.1.*` tensors; an SDXL folder has a second text encoder).
- `family(model)`: the finer family, "sd15", "sd2", "sdxl", "sd3", "flux" or "unknown":
  a folder by `model_index.json`'s pipeline class (and the UNet's `cross_attention_dim`: 768 → sd15,
  1024 → sd2), a single `.safetensors` file by its tensor names (`conditioner.embedders.1` → sdxl,
  `joint_blocks` → sd3, `double_blocks` → flux, `cond_stage_model` / `input_blocks` → sd15 or sd2 by
  the context width of the first cross-attention), a hub id by its cached snapshot or its name.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Literal

Architecture = Literal["sd1", "sdxl"]
Family = Literal["sd15", "sd2", "sdxl", "sd3", "flux", "unknown"]
FAMILIES: tuple[Family, ...] = ("sd15", "sd2", "sdxl", "sd3", "flux", "unknown")

TINY_MODEL = "tiny"
SD1_RESOLUTION = 512
SDXL_RESOLUTION = 1024
DEFAULT_VAE_SCALE = 8
# A safetensors header larger than this is not a header we want to read (real ones are a few MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024
SDXL_KEY_PREFIX = "conditioner.embedders.1"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def hf_cache_dir(environ: dict[str, str] | None = None) -> Path:
    """The Hugging Face hub cache, as huggingface_hub finds it (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/...)."""
    env = os.environ if environ is None else environ
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return Path(env[var]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()
    return base / "huggingface" / "hub"


def cached_snapshot(model_id: str, environ: dict[str, str] | None = None) -> Path | None:
    """The local snapshot folder of Hugging Face repo `model_id` that has a unet config, if any."""
    if "/" not in model_id:
        return None
    repo = hf_cache_dir(environ) / ("models--" + model_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    ref = repo / "refs" / "main"
    try:
        if ref.is_file():
            pinned = snapshots / ref.read_text(encoding="utf-8").strip()
            if (pinned / "unet" / "config.json").is_file():
                return pinned
        candidates = [p for p in snapshots.iterdir() if (p / "unet" / "config.json").is_file()]
    except OSError:
        return None
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime)


def _folder_resolution(folder: Path) -> int | None:
    unet = _read_json(folder / "unet" / "config.json")
    if unet is None:
        return None
    size = unet.get("sample_size")
    if isinstance(size, list | tuple) and size:
        size = size[0]
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        return None
    vae = _read_json(folder / "vae" / "config.json") or {}
    blocks = vae.get("block_out_channels")
    scale = 2 ** (len(blocks) - 1) if isinstance(blocks, list) and blocks else DEFAULT_VAE_SCALE
    return size * scale


def _folder_is_sdxl(folder: Path) -> bool:
    index = _read_json(folder / "model_index.json") or {}
    if "XL" in str(index.get("_class_name", "")) or "text_encoder_2" in index:
        return True
    unet = _read_json(folder / "unet" / "config.json") or {}
    return unet.get("addition_embed_type") == "text_time" or (folder / "text_encoder_2").is_dir()


def safetensors_keys(path: Path) -> list[str] | None:
    """The tensor names in a .safetensors file, from its JSON header alone (None when unreadable)."""
    header = safetensors_header(path)
    return None if header is None else [k for k in header if k != "__metadata__"]


def safetensors_header(path: Path) -> dict[str, Any] | None:
    """The JSON header of a .safetensors file (tensor name → dtype/shape/offsets), None when unreadable."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                return None
            (length,) = struct.unpack("<Q", head)
            if length <= 0 or length > MAX_HEADER_BYTES:
                return None
            header = json.loads(fh.read(length).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None


def _single_file_is_sdxl(path: Path) -> bool | None:
    keys = safetensors_keys(path)
    if keys is None:
        return None
    return any(k.startswith(SDXL_KEY_PREFIX) for k in keys)


def _name_is_sdxl(model_ref: str) -> bool:
    return "xl" in model_ref.lower()


def _local_path(model_ref: str) -> Path:
    return Path(model_ref).expanduser()


def base_resolution(model_ref: str) -> int:
    """The model's native square resolution in pixels (512 for SD 1.x, 1024 for SDXL)."""
    if model_ref == TINY_MODEL:
        return SD1_RESOLUTION
    path = _local_path(model_ref)
    if path.is_dir():
        found = _folder_resolution(path)
        if found is not None:
            return found
        return SDXL_RESOLUTION if _folder_is_sdxl(path) else SD1_RESOLUTION
    if path.suffix.lower() == ".safetensors" and path.is_file():
        sdxl = _single_file_is_sdxl(path)
        if sdxl is not None:
            return SDXL_RESOLUTION if sdxl else SD1_RESOLUTION
    snapshot = cached_snapshot(model_ref)
    if snapshot is not None:
        found = _folder_resolution(snapshot)
        if found is not None:
            return found
    return SDXL_RESOLUTION if _name_is_sdxl(model_ref) else SD1_RESOLUTION


def architecture(model_ref: str) -> Architecture:
    """The pipeline family the model needs: "sdxl" or "sd1"."""
    if model_ref == TINY_MODEL:
        return "sd1"
    path = _local_path(model_ref)
    if path.is_dir():
        return "sdxl" if _folder_is_sdxl(path) else "sd1"
    if path.suffix.lower() == ".safetensors" and path.is_file():
        sdxl = _single_file_is_sdxl(path)
        if sdxl is not None:
            return "sdxl" if sdxl else "sd1"
    snapshot = cached_snapshot(model_ref)
    if snapshot is not None:
        return "sdxl" if _folder_is_sdxl(snapshot) else "sd1"
    return "sdxl" if _name_is_sdxl(model_ref) else "sd1"


# --- families -----------------------------------------------------------------------------------

FAMILY_RESOLUTION: dict[Family, int] = {
    "sd15": 512,
    "sd2": 768,
    "sdxl": 1024,
    "sd3": 1024,
    "flux": 1024,
    "unknown": 512,
}
SD2_CONTEXT = 1024
_SD_CROSS_ATTENTION = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


def family_of_header(header: dict[str, Any]) -> Family:
    """The family of a single-file checkpoint from its safetensors header (names and shapes)."""
    keys = [k for k in header if k != "__metadata__"]
    if any(k.startswith(SDXL_KEY_PREFIX) for k in keys):
        return "sdxl"
    if any("joint_blocks." in k for k in keys):
        return "sd3"
    if any(k.startswith("double_blocks.") or ".double_blocks." in k for k in keys):
        return "flux"
    if any(k.startswith(("cond_stage_model.", "model.diffusion_model.input_blocks.")) for k in keys):
        entry = header.get(_SD_CROSS_ATTENTION)
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if isinstance(shape, list) and len(shape) == 2:
            return "sd2" if shape[1] == SD2_CONTEXT else "sd15"
        if any(k.startswith("cond_stage_model.model.") for k in keys):
            return "sd2"  # OpenCLIP text encoder
        return "sd15"
    return "unknown"


def folder_family(folder: Path) -> Family | None:
    """The family of a diffusers folder; None when it has neither model_index.json nor a UNet config."""
    index = _read_json(folder / "model_index.json")
    unet = _read_json(folder / "unet" / "config.json")
    if index is None and unet is None:
        return None
    cls = str((index or {}).get("_class_name", ""))
    transformer = str((_read_json(folder / "transformer" / "config.json") or {}).get("_class_name", ""))
    if cls.startswith("Flux") or transformer.startswith("Flux"):
        return "flux"
    if cls.startswith("StableDiffusion3") or transformer.startswith("SD3"):
        return "sd3"
    if _folder_is_sdxl(folder):
        return "sdxl"
    if unet is None:
        return "unknown"
    context = unet.get("cross_attention_dim")
    if isinstance(context, list | tuple) and context:
        context = context[0]
    return "sd2" if context == SD2_CONTEXT else "sd15"


def _name_family(model_ref: str) -> Family:
    name = model_ref.lower()
    if "flux" in name:
        return "flux"
    if "stable-diffusion-3" in name or "sd3" in name:
        return "sd3"
    if "xl" in name:
        return "sdxl"
    if "stable-diffusion-2" in name:
        return "sd2"
    return "sd15"


def family(model_ref: str) -> Family:
    """The model's family (see the module docstring), read from JSON alone."""
    if model_ref == TINY_MODEL:
        return "sd15"
    path = _local_path(model_ref)
    if path.is_dir():
        return folder_family(path) or "unknown"
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            return _name_family(path.name) if path.suffix.lower() == ".ckpt" else "unknown"
        header = safetensors_header(path)
        return family_of_header(header) if header is not None else _name_family(path.name)
    snapshot = cached_snapshot(model_ref)
    if snapshot is not None:
        return folder_family(snapshot) or "unknown"
    return _name_family(model_ref)


def folder_resolution(folder: Path) -> int | None:
    """A diffusers folder's native side: the UNet's (or transformer's) sample_size × the VAE factor."""
    found = _folder_resolution(folder)
    if found is not None:
        return found
    transformer = _read_json(folder / "transformer" / "config.json") or {}
    size = transformer.get("sample_size")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        vae = _read_json(folder / "vae" / "config.json") or {}
        blocks = vae.get("block_out_channels")
        scale = 2 ** (len(blocks) - 1) if isinstance(blocks, list) and blocks else DEFAULT_VAE_SCALE
        return size * scale
    return None
