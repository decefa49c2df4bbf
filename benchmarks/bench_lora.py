"""Benchmark a LoRA job against the same job without a LoRA, through DiffusersEngine.

    .venv/bin/python benchmarks/bench_lora.py [--size 512] [--steps 30] [--repeats 3] [--rank 4]
        [--shape tiny|sd15]

One job (4 images) with `<lora:ink:0.8>` (a random rank-`--rank` LoRA on the UNet's attention and
the text encoder, gen.tiny_adapters.make_tiny_lora) vs the plain job, interleaved, best of --repeats
each; the LoRA is loaded once before timing (as in the worker, where it stays loaded across batches).
Also times the first load of the LoRA and a plain job once an adapter is loaded but disabled.
Goal: ≤ 1.10×.

Runs on the tiny model (built once under a temporary folder), or with `--shape sd15` on a random-weight
model of Stable Diffusion 1.5's real shapes (UNet 320/640/1280/1280 with cross-attention 768, a 12-layer
768-wide CLIP text encoder, the 4-block VAE): there a LoRA's extra matmuls are the small share of each
layer that they are in real use, where on the tiny model (32-wide layers) they are a large one. Prints a
JSON line with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _request(seed: int, size: int, steps: int, loras: tuple[Any, ...] = ()) -> Any:
    from imaginebot.core.domain import GenRequest, JobKind, JobSpec, PromptPart

    prompt = "a red fox in snow"
    spec = JobSpec(
        prompt=prompt,
        weights=(PromptPart(prompt),),
        width=size,
        height=size,
        steps=steps,
        seed=seed,
        loras=loras,
    )
    return GenRequest("bench", JobKind.IMAGINE, spec, seed)


def _timed(engine: Any, request: Any) -> float:
    start = time.perf_counter()
    [res] = engine.generate([request])
    assert res.failure is None, res.detail
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--shape", choices=["tiny", "sd15"], default="tiny")
    args = parser.parse_args()

    import torch

    from gen.engine import DiffusersEngine
    from gen.loader import load_pipeline
    from gen.runner import cpu_threads
    from gen.tiny import make_tiny_model
    from gen.tiny_adapters import make_tiny_lora
    from imaginebot.core.domain import LoraRef

    torch.set_num_threads(cpu_threads())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = root / args.shape
        if args.shape == "sd15":
            from gen.shapes import make_shaped_model

            make_shaped_model(model, "sd15", dtype="float32")
        else:
            make_tiny_model(model)
        make_tiny_lora(model, root / "loras" / "ink.safetensors", rank=args.rank, seed=1)
        pipe = load_pipeline(str(model), device="cpu")
        engine = DiffusersEngine(pipe, model_id=args.shape, loras_dir=root / "loras")
        plain = _request(42, args.size, args.steps)
        lora = _request(42, args.size, args.steps, (LoraRef("ink", 0.8),))
        before = min(_timed(engine, plain) for _ in range(args.repeats))  # no adapter loaded at all
        start = time.perf_counter()
        engine.loras.activate(lora.spec.loras)
        load_s = time.perf_counter() - start
        times: dict[str, list[float]] = {"plain": [], "lora": []}
        for _ in range(args.repeats):
            times["plain"].append(_timed(engine, plain))
            times["lora"].append(_timed(engine, lora))
    best = {k: min(v) for k, v in times.items()}
    result = {
        "shape": args.shape,
        "size": args.size,
        "steps": args.steps,
        "rank": args.rank,
        "plain_before_any_lora_s": round(before, 3),
        "plain_s": round(best["plain"], 3),
        "lora_s": round(best["lora"], 3),
        "lora_first_load_s": round(load_s, 3),
        "lora_vs_plain": round(best["lora"] / best["plain"], 3),
        "plain_disabled_adapter_vs_before": round(best["plain"] / before, 3),
    }
    print(json.dumps(result))
    print(f"LoRA job vs plain: {result['lora_vs_plain']:.3f}× (goal ≤ 1.10×)")


if __name__ == "__main__":
    main()
