"""Benchmark the generation engine against plain diffusers, cross-job batching, and shared-weight memory.

    .venv/bin/python benchmarks/bench_engine.py [--size 512] [--steps 30] [--repeats 3] [--part all]

Parts (each prints its ratio):
- overhead: one job (4 images) through DiffusersEngine vs the same plain diffusers call (+ PNG encoding,
  which the engine also does), interleaved, best of --repeats each. Goal: ≤ 1.05×.
- batch: 8 jobs of 4 images, generated one call per job vs batched in calls of queue.max_batch = 8
  images (2 jobs a call); every call timed alone, best of --repeats per call. Throughput ratio;
  goal ≥ 1.5×.
- memory: resident memory (RSS) of a fresh process with txt2img + img2img (from_pipe) + an upscale run,
  vs txt2img alone; plus the same for a second, independently loaded img2img pipeline, for contrast.
  Goal: ≤ 1.1×.

Runs on the tiny model (built once under a temporary folder) unless --model names another.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what importing gen does in the app (gen/__init__.py)

PROMPTS = ["a red fox in snow", "a lighthouse at dusk", "portrait of an old sailor", "a bowl of ramen"]


def _request(
    job: str, prompt: str, seed: int, size: int, steps: int, kind: str = "imagine", **kw: Any
) -> Any:
    from imaginebot.core.domain import GenRequest, JobKind, JobSpec, PromptPart

    spec = JobSpec(
        prompt=prompt, weights=(PromptPart(prompt),), width=size, height=size, steps=steps, seed=seed
    )
    return GenRequest(job, JobKind(kind), spec, seed, **kw)


def _load(model: str, data_dir: Path) -> Any:
    from gen.loader import load_pipeline

    return load_pipeline(model, device="cpu", data_dir=data_dir)


def overhead(pipe: Any, size: int, steps: int, repeats: int) -> dict[str, float]:
    import torch

    from gen.engine import DiffusersEngine
    from imaginebot.core.images import png_bytes

    engine = DiffusersEngine(pipe, model_id="bench", preview_interval=1.5)
    req = _request("j", PROMPTS[0], 42, size, steps)

    def raw() -> None:
        gens = [torch.Generator("cpu").manual_seed(42 + k) for k in range(4)]
        out = pipe(
            PROMPTS[0],
            width=size,
            height=size,
            num_inference_steps=steps,
            guidance_scale=7.0,
            num_images_per_prompt=4,
            generator=gens,
        )
        [png_bytes(im) for im in out.images]

    def eng() -> None:
        engine.generate([req], progress=lambda p: None, is_cancelled=lambda j: False)

    raw()  # warm-up: allocator, oneDNN primitives
    times: dict[str, list[float]] = {"raw": [], "engine": []}
    for _ in range(repeats):
        for name, fn in (("raw", raw), ("engine", eng)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    return {"raw_s": best["raw"], "engine_s": best["engine"], "ratio": best["engine"] / best["raw"]}


def batching(pipe: Any, size: int, steps: int, repeats: int, max_batch: int = 8) -> dict[str, float]:
    """Each call is timed on its own and the best of --repeats kept per call, interleaving the two ways,
    so a burst of load from elsewhere on a shared machine does not decide the ratio."""
    from gen.engine import DiffusersEngine

    engine = DiffusersEngine(pipe, model_id="bench", preview_interval=1.5)
    jobs = [_request(f"j{i}", PROMPTS[i % 4], 1000 + 10 * i, size, steps) for i in range(8)]
    per_call = max(1, max_batch // 4)
    calls = [jobs[i : i + per_call] for i in range(0, len(jobs), per_call)]
    seq = [float("inf")] * len(jobs)
    bat = [float("inf")] * len(calls)
    for _ in range(repeats):
        for c, call in enumerate(calls):
            for job in call:
                t = time.perf_counter()
                engine.generate([job])
                seq[jobs.index(job)] = min(seq[jobs.index(job)], time.perf_counter() - t)
            t = time.perf_counter()
            engine.generate(call)
            bat[c] = min(bat[c], time.perf_counter() - t)
    s, b = sum(seq), sum(bat)
    return {"sequential_s": s, "batched_s": b, "throughput_ratio": s / b, "jobs_per_call": per_call}


def _child_memory(model: str, data_dir: str, mode: str, size: int) -> None:
    """Run in a fresh process: load, generate, print RSS (bytes) as JSON.

    Freed heap is handed back to the OS before each reading (what the engine does after upscales), so
    the numbers are what stays resident: weights, runtime, caches — not the last call's scratch space.
    """
    import psutil

    from gen.engine import DiffusersEngine, _trim_heap
    from gen.loader import img2img_pipeline

    proc = psutil.Process()

    def rss() -> int:
        _trim_heap()
        return int(proc.memory_info().rss)

    pipe = _load(model, Path(data_dir))
    engine = DiffusersEngine(pipe, model_id="bench")
    [res] = engine.generate([_request("a", PROMPTS[0], 1, size, 10)])
    out: dict[str, int] = {"txt2img": rss()}
    if mode == "shared":
        img2img_pipeline(pipe)  # what the engine builds for variations/upscales
        out["loaded"] = rss()
        engine.generate(
            [_request("v", PROMPTS[0], 2, size, 10, "variation", source_png=res.images[0], strength=0.8)]
        )
        engine.generate(
            [_request("u", PROMPTS[0], 3, size, 10, "upscale", source_png=res.images[0], strength=0.25)]
        )
        out["after_runs"] = rss()
    elif mode == "separate":
        from diffusers import AutoPipelineForImage2Image

        ref = str(Path(data_dir) / "models" / "tiny-sd") if model == "tiny" else model
        AutoPipelineForImage2Image.from_pretrained(ref)
        out["loaded"] = rss()
    print(json.dumps(out))


def memory(model: str, data_dir: Path, size: int) -> dict[str, float]:
    def run(mode: str) -> dict[str, int]:
        cmd = [
            sys.executable,
            __file__,
            "--child-memory",
            mode,
            "--model",
            model,
            "--data-dir",
            str(data_dir),
        ]
        cmd += ["--size", str(size)]
        text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return dict(json.loads(text.strip().splitlines()[-1]))

    shared, separate = run("shared"), run("separate")
    mib = 1024 * 1024
    return {
        "txt2img_mib": shared["txt2img"] / mib,
        "shared_loaded_mib": shared["loaded"] / mib,
        "shared_after_variation_and_upscale_mib": shared["after_runs"] / mib,
        "ratio_loaded": shared["loaded"] / shared["txt2img"],
        "ratio_after_runs": shared["after_runs"] / shared["txt2img"],
        "separate_loaded_mib": separate["loaded"] / mib,
        "ratio_separate": separate["loaded"] / separate["txt2img"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--part", choices=["all", "overhead", "batch", "memory"], default="all")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--child-memory", choices=["shared", "separate"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    from gen.quiet import quiet_progress_bars
    from gen.tiny import tiny_model_dir

    quiet_progress_bars()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-engine-"))
    if args.child_memory:
        _child_memory(args.model, str(data_dir), args.child_memory, args.size)
        return 0
    if args.model == "tiny":
        tiny_model_dir(data_dir)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, "
        f"{args.size}×{args.size}, {args.steps} steps"
    )
    pipe = _load(args.model, data_dir)
    if args.part in ("all", "overhead"):
        r = overhead(pipe, args.size, args.steps, args.repeats)
        print(
            f"overhead: plain diffusers {r['raw_s']:.2f} s, engine {r['engine_s']:.2f} s per job "
            f"-> ratio {r['ratio']:.3f} (goal <= 1.05)"
        )
    if args.part in ("all", "batch"):
        r = batching(pipe, args.size, args.steps, args.repeats)
        print(
            f"batch: 8 jobs one by one {r['sequential_s']:.2f} s, in calls of {r['jobs_per_call']} jobs "
            f"{r['batched_s']:.2f} s -> throughput x{r['throughput_ratio']:.2f} (goal >= 1.5)"
        )
    if args.part in ("all", "memory"):
        r = memory(args.model, data_dir, args.size)
        print(
            f"memory: txt2img {r['txt2img_mib']:.0f} MiB; + img2img (from_pipe) "
            f"{r['shared_loaded_mib']:.0f} MiB -> x{r['ratio_loaded']:.3f}; after a variation and an "
            f"upscale {r['shared_after_variation_and_upscale_mib']:.0f} MiB -> x{r['ratio_after_runs']:.3f} "
            f"(goal <= 1.1); a separately loaded img2img pipeline instead: x{r['ratio_separate']:.3f}"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
