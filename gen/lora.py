"""LoRAs (`<lora:NAME:W>`) on a loaded pipeline: loaded once, switched per batch.

A LoRA NAME is the file `NAME.safetensors` (or `NAME.pt`) in `gen.loras_dir`. Diffusers/peft files and
A1111/kohya-ss files both load: `load_lora_weights` converts kohya key names (`lora_unet_…`,
`lora_te_…`, `alpha`) itself. Each file is loaded once into the pipeline as a peft adapter (named
`lora_<name>`, made safe for peft) and kept across batches (the `MAX_LOADED` most recently used).

Per batch (every request of a batch has the same LoRA set and weights, see `GenRequest.batch_key`):

- with LoRAs: `enable_lora()` then `set_adapters(names, adapter_weights=weights)` — exactly what a plain
  diffusers user does after `load_lora_weights`, so the images are the same;
- without: `disable_lora()` — peft's layers then return their base layer's output unchanged, so the
  images are bit-identical to those before any LoRA was loaded.

The img2img and inpainting pipelines (`from_pipe`) share the UNet and text encoder modules, so the
adapters apply to them too. A LoRA that is missing or cannot be loaded raises `LoraError` (a
ValueError) naming it; the engine fails that batch's jobs with bad_input.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from imaginebot.core.catalogue import LORA_SUFFIXES
from imaginebot.core.domain import LoraRef

log = logging.getLogger(__name__)

MAX_LOADED = 16  # adapters kept in the pipeline; the least recently used beyond this are deleted


class LoraError(ValueError):
    """A LoRA that is missing or cannot be loaded (the message names it)."""


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


def find_lora(loras_dir: Path | None, name: str) -> Path | None:
    """The file of LoRA `name` in `loras_dir` (`NAME.safetensors`, else `.pt`, `.bin`: the files the
    catalogue lists, so a name the parser accepts is one the engine finds), or None."""
    if loras_dir is None or not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for suffix in LORA_SUFFIXES:
        path = loras_dir / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def adapter_name(name: str) -> str:
    """A peft-safe adapter name for LoRA `name` (letters, digits, `_`; distinct names stay distinct)."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if safe != name:
        safe += "_" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"lora_{safe}"


def read_weights(path: Path) -> dict[str, Any]:
    """A LoRA or embedding file's state dict (`.safetensors`, or a pickle read with `weights_only`)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path), device="cpu"))
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict):
        if isinstance(data, torch.Tensor):
            return {"emb_params": data}
        raise ValueError(f"{path.name} holds a {type(data).__name__}, not a state dict")
    return data


class LoraSet:
    """The LoRAs loaded into one pipeline (and every `from_pipe` pipeline sharing its modules)."""

    def __init__(self, pipe: Any, loras_dir: Path | None, *, max_loaded: int = MAX_LOADED) -> None:
        self.pipe = pipe
        self.loras_dir = loras_dir
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, str] = OrderedDict()  # LoRA name → adapter name, LRU order

    @property
    def loaded(self) -> list[str]:
        return list(self._loaded)

    def activate(self, loras: Sequence[LoraRef]) -> None:
        """Make exactly `loras` (at their weights) active; none: every adapter off. Raises LoraError."""
        if not loras:
            if self._loaded:
                self.pipe.disable_lora()
            return
        weights: dict[str, float] = {}
        for ref in loras:  # a repeated name adds up (the parser normally merges them)
            weights[ref.name] = weights.get(ref.name, 0.0) + float(ref.weight)
        missing = [n for n in weights if n not in self._loaded and find_lora(self.loras_dir, n) is None]
        if missing:
            where = str(self.loras_dir) if self.loras_dir is not None else "no LoRA folder configured"
            raise LoraError(f"LoRA {missing[0]!r} not found ({where})")
        names = [self._ensure(n) for n in weights]
        self._evict(keep=set(weights))
        self.pipe.enable_lora()
        self.pipe.set_adapters(names, adapter_weights=list(weights.values()))

    def _ensure(self, name: str) -> str:
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return self._loaded[name]
        path = find_lora(self.loras_dir, name)
        if path is None:
            raise LoraError(f"LoRA {name!r} not found ({self.loras_dir})")
        adapter = adapter_name(name)
        try:
            state = read_weights(path)
            with warnings.catch_warnings():  # peft: "Already found a `peft_config` …" — multiple is the point
                warnings.filterwarnings("ignore", message=".*peft_config.*")
                self.pipe.load_lora_weights(state, adapter_name=adapter)
        except Exception as exc:
            log.warning("LoRA %r (%s) cannot be loaded", name, path, exc_info=True)
            self._forget(adapter)
            raise LoraError(f"LoRA {name!r} cannot be loaded: {_one_line(exc)}") from exc
        log.info("loaded LoRA %r from %s", name, path)
        self._loaded[name] = adapter
        return adapter

    def _forget(self, adapter: str) -> None:
        """Remove whatever a failed load left of `adapter` (nothing, usually)."""
        try:
            present = {a for names in self.pipe.get_list_adapters().values() for a in names}
            if adapter in present:
                self.pipe.delete_adapters(adapter)
        except Exception:  # pragma: no cover - best effort
            log.debug("could not clean up adapter %s", adapter, exc_info=True)

    def _evict(self, keep: set[str]) -> None:
        while len(self._loaded) > self.max_loaded:
            victim = next((n for n in self._loaded if n not in keep), None)
            if victim is None:
                return
            adapter = self._loaded.pop(victim)
            self.pipe.delete_adapters(adapter)
            log.info("unloaded LoRA %r (more than %d loaded)", victim, self.max_loaded)
