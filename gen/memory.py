"""Memory: freeing the device cache after a failure, VAE tiling for large pictures, trimming the heap."""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextmanager
def vae_tiling(vae: Any, enabled: bool = True) -> Iterator[None]:
    """The VAE encodes and decodes tile by tile inside the block (unless tiling is on already)."""
    if not enabled or vae.use_tiling:
        yield
        return
    vae.enable_tiling()
    try:
        yield
    finally:
        vae.disable_tiling()


@functools.cache
@contextmanager
def memory_savers(vae: Any) -> Iterator[None]:
    """VAE tiling and slicing for the call (a job too large for the device otherwise)."""
    vae.enable_tiling()
    vae.enable_slicing()
    try:
        yield
    finally:
        vae.disable_tiling()
        vae.disable_slicing()


def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def trim_heap() -> None:
    """Give freed activation memory back to the OS (glibc keeps it otherwise, and RSS only grows).

    Done after upscales only: a 2× upscale needs four times the activations of a grid, and without
    this a CPU worker's resident memory would stay there. Grids and variations repeat the same sizes,
    so their memory is kept for the next batch (returning it costs page faults on the next call).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
