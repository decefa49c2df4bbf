"""Benchmark an edit's cost against a plain /imagine of the same output size, through the engine.

    .venv/bin/python benchmarks/bench_edits.py [--size 512] [--steps 30] [--repeats 3] [--model tiny]

For each edit (Zoom Out 2x, Pan ⬅️, Make Square, Vary (Region)) one job of 4 images goes through
DiffusersEngine and is timed against an imagine job of exactly the edit's output size, interleaved, best
of --repeats each (after one warm-up of both). The ratio is edit / imagine; goal ≤ 1.15× (outpainting
should cost what generation costs).

Runs on the tiny model (built once under a temporary folder) unless --model names another.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what importing gen does in the app (gen/__init__.py)

PROMPT = "a red fox in snow"


def _edits(size: int) -> dict[str, tuple[Any, Any]]:
    """name → (EditJob, source picture size) for the edits measured, from a size×size source."""
    from imaginebot.core.domain import JobSpec, PromptPart
    from imaginebot.core.edit_jobs import edit_job
    from imaginebot.core.edits import EditAction

    spec = JobSpec(prompt=PROMPT, weights=(PromptPart(PROMPT),), width=size, height=size, steps=30)
    wide = JobSpec(prompt=PROMPT, weights=(PromptPart(PROMPT),), width=size * 3 // 2 // 8 * 8,
                   height=size * 2 // 3 // 8 * 8, steps=30)  # fmt: skip
    upscaled = (2 * size, 2 * size)
    wide_pixels = (wide.width * 2, wide.height * 2)

    def job(action: EditAction, source: JobSpec = spec, pixels: tuple[int, int] = upscaled, **kw: Any) -> Any:
        return edit_job(action, source, source_pixels=pixels, base_resolution=size, **kw), pixels

    jobs = {
        "Zoom Out 2x": job(EditAction.ZOOM_OUT),
        "Pan ⬅️": job(EditAction.PAN_LEFT),
        "Make Square": job(EditAction.MAKE_SQUARE, wide, wide_pixels),
        "Vary (Region)": job(EditAction.VARY_REGION, regions=[(0.0, 0.0, 2 / 3, 2 / 3)]),
    }
    return jobs


def run(pipe: Any, size: int, steps: int, repeats: int) -> list[tuple[str, float, float]]:
    import dataclasses

    import numpy as np
    from PIL import Image

    from gen.engine import DiffusersEngine
    from imaginebot.core.domain import GenRequest, JobKind
    from imaginebot.core.images import png_bytes

    engine = DiffusersEngine(pipe, model_id="bench", preview_interval=1.5)
    rng = np.random.default_rng(0)
    rows = []
    for name, (job, pixels) in _edits(size).items():
        source = png_bytes(Image.fromarray(rng.integers(0, 255, (pixels[1], pixels[0], 3), dtype=np.uint8)))
        spec = dataclasses.replace(job.spec, steps=steps, seed=42)
        edit = GenRequest("e", job.kind, spec, 42, source, job.strength, job.edit)
        w, h = edit.size
        plain = GenRequest("i", JobKind.IMAGINE, dataclasses.replace(spec, width=w, height=h), 42)
        times: dict[str, list[float]] = {"imagine": [], "edit": []}
        for k in range(repeats + 1):
            for label, request in (("imagine", plain), ("edit", edit)):
                t = time.perf_counter()
                [result] = engine.generate([request])
                assert result.failure is None and (result.width, result.height) == (w, h), result
                if k:  # the first round warms both paths up (allocator, oneDNN primitives)
                    times[label].append(time.perf_counter() - t)
        rows.append((f"{name} ({w}×{h})", min(times["imagine"]), min(times["edit"])))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default="")
    args = parser.parse_args()

    import torch

    from gen.loader import load_pipeline
    from gen.quiet import quiet_progress_bars
    from gen.tiny import tiny_model_dir

    quiet_progress_bars()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-edits-"))
    if args.model == "tiny":
        tiny_model_dir(data_dir)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, "
          f"source {args.size}×{args.size}, {args.steps} steps")  # fmt: skip
    pipe = load_pipeline(args.model, device="cpu", data_dir=data_dir)
    worst = 0.0
    print("| edit (output size) | imagine, same size | edit | ratio |")
    print("|---|---|---|---|")
    for name, plain, edit in run(pipe, args.size, args.steps, args.repeats):
        worst = max(worst, edit / plain)
        print(f"| {name} | {plain:.2f} s | {edit:.2f} s | {edit / plain:.3f} |")
    print(f"worst ratio {worst:.3f} (goal <= 1.15)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
