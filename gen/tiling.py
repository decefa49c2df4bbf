"""`--tile`: seamless tiling by circular padding in the convolutions, for one generation only.

With circular padding every convolution sees the image as a torus, so the left edge continues the right
one and the top continues the bottom; the result repeats without a visible seam. Switching `padding_mode`
on the existing Conv2d modules is enough (torch pads with `F.pad(..., mode="circular")` before the conv);
the weights are untouched and the original modes are restored afterwards. This mutates shared modules,
which is safe because a pipeline runs one generation at a time (gen.runner serialises calls).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch


def _convs(modules: Iterable[torch.nn.Module]) -> list[torch.nn.Conv2d]:
    return [m for module in modules for m in module.modules() if isinstance(m, torch.nn.Conv2d)]


@contextmanager
def seamless(modules: Iterable[torch.nn.Module], enabled: bool = True) -> Iterator[None]:
    """Circular padding on every padded Conv2d of `modules` (UNet and VAE) inside the `with` block."""
    if not enabled:
        yield
        return
    convs = [c for c in _convs(modules) if any(p for p in c._reversed_padding_repeated_twice)]
    saved = [c.padding_mode for c in convs]
    try:
        for c in convs:
            c.padding_mode = "circular"
        yield
    finally:
        for c, mode in zip(convs, saved, strict=True):
            c.padding_mode = mode
