"""`imaginebot make-tiny-model DIR`: write the small random-weight pipeline used offline and in tests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FAMILY_LABELS = {"sd15": "SD 1.x", "sdxl": "SDXL", "sd3": "SD 3", "flux": "FLUX.1"}


def run_make_tiny_model(args: argparse.Namespace) -> int:
    """Write the tiny random-weight pipeline of args.family (sd15, sdxl, sd3, flux; `--sdxl` is
    `--family sdxl`) to args.dir (and args.single_file); print what was written."""
    target = Path(args.dir)
    shape = getattr(args, "shape", None)
    if shape is not None:
        return _make_shaped(args, target, shape)
    single = Path(args.single_file) if getattr(args, "single_file", None) else None
    sdxl, inpainting = bool(getattr(args, "sdxl", False)), bool(getattr(args, "inpainting", False))
    family = getattr(args, "family", None) or ("sdxl" if sdxl else "sd15")
    if sdxl and family != "sdxl":
        print(f"imaginebot: --sdxl contradicts --family {family}", file=sys.stderr)
        return 2
    if family not in ("sd15", "sdxl") and (inpainting or single is not None):
        option = "--inpainting" if inpainting else "--single-file"
        print(f"imaginebot: {option} is for --family sd15 or sdxl, not {family}", file=sys.stderr)
        return 2
    problem = _unwritable(target, single)
    if problem:
        print(f"imaginebot: {problem}", file=sys.stderr)
        return 2
    from safetensors import SafetensorError

    from gen.tiny import make_tiny_model

    options = {"inpainting": True} if inpainting else {}  # only when asked: the default model is unchanged
    try:
        written = make_tiny_model(target, family=family, single_file=single, **options)
    except OSError as exc:
        print(f"imaginebot: cannot write {exc.filename or target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except SafetensorError as exc:  # e.g. --single-file names a folder the model itself made
        print(f"imaginebot: cannot write {single}: {exc}", file=sys.stderr)
        return 2
    kind = FAMILY_LABELS[family] + (" inpainting" if inpainting else "")
    print(f"wrote a tiny {kind} pipeline (diffusers layout) to {written[0]}")
    if len(written) > 1:
        print(f"wrote the same weights as one original-layout checkpoint to {written[1]}")
        print("  (a single file holds weights only: load it with the folder above as its config folder)")
    return 0


def _make_shaped(args: argparse.Namespace, target: Path, shape: str) -> int:
    """`--shape sd15|sdxl`: a random-weight model of the real architecture's sizes (gen.shapes)."""
    for option in ("family", "sdxl", "inpainting", "single_file"):
        if getattr(args, option, None):
            flag = "--" + option.replace("_", "-")
            print(f"imaginebot: {flag} cannot be combined with --shape", file=sys.stderr)
            return 2
    problem = _unwritable(target, None)
    if problem:
        print(f"imaginebot: {problem}", file=sys.stderr)
        return 2
    from gen.shapes import make_shaped_model

    try:
        folder = make_shaped_model(target, shape)
    except OSError as exc:
        print(f"imaginebot: cannot write {exc.filename or target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote a random-weight {FAMILY_LABELS[shape]} pipeline of the real sizes (float16) to {folder}")
    return 0


def _unwritable(target: Path, single: Path | None) -> str:
    """Why DIR (or --single-file FILE) cannot be written, or "" (a name too long for the file system too)."""
    try:
        if target.exists() and not target.is_dir():
            return f"{target} exists and is not a folder"
        if single is not None and single.is_dir():
            return f"--single-file: {single} is a folder; name a .safetensors file"
    except OSError as exc:
        return f"cannot write {exc.filename or target}: {exc.strerror or exc}"
    return ""
