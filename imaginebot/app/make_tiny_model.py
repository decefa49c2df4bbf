"""`imaginebot make-tiny-model DIR`: write the small random-weight pipeline used offline and in tests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run_make_tiny_model(args: argparse.Namespace) -> int:
    """Write the tiny random-weight pipeline to args.dir (and args.single_file); print what was written."""
    from gen.tiny import make_tiny_model

    target = Path(args.dir)
    single = Path(args.single_file) if getattr(args, "single_file", None) else None
    if target.exists() and not target.is_dir():
        print(f"imaginebot: {target} exists and is not a folder", file=sys.stderr)
        return 2
    sdxl, inpainting = bool(getattr(args, "sdxl", False)), bool(getattr(args, "inpainting", False))
    options = {"inpainting": True} if inpainting else {}  # only when asked: the default model is unchanged
    written = make_tiny_model(target, sdxl=sdxl, single_file=single, **options)
    kind = ("SDXL" if sdxl else "SD 1.x") + (" inpainting" if inpainting else "")
    print(f"wrote a tiny {kind} pipeline (diffusers layout) to {written[0]}")
    if len(written) > 1:
        print(f"wrote the same weights as one original-layout checkpoint to {written[1]}")
        print("  (a single file holds weights only: load it with the folder above as its config folder)")
    return 0
