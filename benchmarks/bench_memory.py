"""Resident memory of a worker holding two models and the edit pipelines built from them.

    .venv/bin/python benchmarks/bench_memory.py [--shape sd15|tiny] [--size 64] [--steps 2]

Goal (issue #17): a worker with two models loaded, and the img2img / inpainting pipelines built from each
with `from_pipe`, holds no second copy of any weights — its resident memory over a bare process is at
most 1.1× the sum of the two models' (each loaded alone, over the same bare process).

Every reading is taken in a fresh child process, after `gen.memory.trim_heap()` (freed heap handed back to
the OS), from /proc/self/status (VmRSS, with its anonymous and file-backed parts):

- baseline: the bare process after importing torch, diffusers and the engine;
- A alone, B alone: one model loaded with `gen.runner.load_engine` (what a worker does: load, warm-up),
  then again after one txt2img job, one variation (img2img) and one Zoom Out edit (inpainting) ran;
- both: the two models in one `worker.pool.EnginePool` (max_loaded=2), each running the same three jobs.

ratio = (both, after the jobs − baseline) ÷ ((A loaded − baseline) + (B loaded − baseline)); goal ≤ 1.1.
The child also checks that each engine's img2img and inpainting pipelines hold the very same module
objects (and parameter storage) as its txt2img pipeline, and that the two models share nothing.

`--shape sd15` writes two random-weight SD 1.5-shaped models (gen.shapes, seeds 0 and 1, float16 on disk,
loaded as float32: about 4.3 GB each) so that weights dominate the reading; `--shape tiny` two tiny
models (weights of a few MB: the ratio then measures torch's runtime, a quick check only). Models go to a
temporary folder (or `--model-dir`, kept) that is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what importing gen does in the app (gen/__init__.py)

MIB = 1024 * 1024


def status_memory() -> dict[str, int]:
    """VmRSS, RssAnon, RssFile of this process in bytes, after handing freed heap back to the OS."""
    import gc

    from gen.memory import trim_heap

    gc.collect()
    trim_heap()
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _settings(model: str, size: int) -> Any:
    """The `gen.*` settings load_engine reads (CPU, float32 as `auto` gives on CPU)."""
    return SimpleNamespace(
        model=model,
        device="cpu",
        dtype="auto",
        scheduler="",
        config_dir=None,
        compile=False,
        preview_interval=1.5,
        loras_dir=None,
        embeddings_dir=None,
    )


def _requests(tag: str, size: int, steps: int, source: bytes | None) -> list[Any]:
    """One txt2img job; with a source also one variation and one Zoom Out 2x edit of it."""
    from imaginebot.core.domain import GenRequest, JobKind, JobSpec, PromptPart
    from imaginebot.core.edits import zoom_out

    def req(kind: JobKind, job: str, **kw: Any) -> GenRequest:
        prompt = "a lighthouse at dusk"
        spec = JobSpec(
            prompt=prompt, weights=(PromptPart(prompt),), width=size, height=size, steps=steps, seed=7
        )
        return GenRequest(f"{tag}-{job}", kind, spec, 7, **kw)

    if source is None:
        return [req(JobKind.IMAGINE, "imagine")]
    plan = zoom_out((size, size), 2.0)
    return [
        req(JobKind.VARIATION, "vary", source_png=source, strength=0.8),
        req(JobKind.for_action(plan.action), "zoom", source_png=source, edit=plan),
    ]


async def _run_jobs(engine: Any, tag: str, size: int, steps: int) -> None:
    """txt2img, then a variation and an edit of its first image (each alone, as the worker batches kinds)."""
    [res] = await engine.generate(_requests(tag, size, steps, None))
    assert res.failure is None, res.failure
    for request in _requests(tag, size, steps, res.images[0]):
        [out] = await engine.generate([request])
        assert out.failure is None, (request.kind, out.failure, out.detail)


def weight_bytes(pipe: Any) -> int:
    """Bytes of every parameter and buffer of a pipeline's torch modules (each storage counted once)."""
    import torch

    seen: set[int] = set()
    total = 0
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            for t in list(module.parameters()) + list(module.buffers()):
                ptr = t.untyped_storage().data_ptr()
                if ptr not in seen:
                    seen.add(ptr)
                    total += t.untyped_storage().nbytes()
    return total


def sharing(engines: list[Any]) -> dict[str, Any]:
    """Whether img2img/inpainting pipelines share module objects and storage with their txt2img pipeline."""
    import torch

    report: dict[str, Any] = {"same_modules": True, "same_storage": True, "models_disjoint": True}
    pointers: list[set[int]] = []
    for threaded in engines:
        eng = threaded.engine
        base = eng.pipe
        ptrs = {
            p.untyped_storage().data_ptr()
            for m in base.components.values()
            if isinstance(m, torch.nn.Module)
            for p in m.parameters()
        }
        pointers.append(ptrs)
        for derived in (eng._img2img, eng._inpaint):
            assert derived is not None, "the edit pipelines were not built"
            for name, module in derived.components.items():
                if isinstance(module, torch.nn.Module):
                    report["same_modules"] &= module is base.components.get(name)
                    report["same_storage"] &= all(
                        p.untyped_storage().data_ptr() in ptrs for p in module.parameters()
                    )
        report.setdefault("modules", []).append(
            {name: hex(id(m)) for name, m in base.components.items() if isinstance(m, torch.nn.Module)}
        )
    if len(pointers) == 2:
        report["models_disjoint"] = not (pointers[0] & pointers[1])
    return report


async def _child(mode: str, models: list[str], size: int, steps: int) -> dict[str, Any]:
    from gen.runner import load_engine
    from worker.pool import EnginePool

    out: dict[str, Any] = {"mode": mode}
    out["baseline"] = status_memory()
    if mode == "baseline":
        return out
    names = {f"m{i}": path for i, path in enumerate(models)}

    async def load(key: str) -> Any:
        return await asyncio.to_thread(load_engine, _settings(names[key], size), REPO / "data")

    pool = EnginePool({k: k for k in names}, load, max_loaded=len(names))
    started = time.perf_counter()
    engines: list[Any] = [await pool.get(k) for k in names]
    out["load_s"] = time.perf_counter() - started
    out["loaded"] = status_memory()
    out["weight_bytes"] = [weight_bytes(e.engine.pipe) for e in engines]
    started = time.perf_counter()
    for key, engine in zip(names, engines, strict=True):
        await _run_jobs(engine, key, size, steps)
    out["jobs_s"] = time.perf_counter() - started
    out["after_jobs"] = status_memory()
    out["loaded_keys"] = pool.loaded
    out["sharing"] = sharing(engines)
    await pool.aclose()
    return out


def _spawn(mode: str, models: list[str], size: int, steps: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--size", str(size), "--steps", str(steps)]
    cmd += ["--models", *models]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def make_models(shape: str, root: Path) -> list[str]:
    """Two models of `shape` under `root` (seeds 0 and 1), reused when already there."""
    paths = []
    for seed in (0, 1):
        folder = root / f"{shape}-{seed}"
        if not (folder / "model_index.json").is_file():
            if shape == "sd15":
                from gen.shapes import make_shaped_model

                make_shaped_model(folder, "sd15", seed=seed)
            else:
                from gen.tiny import make_tiny_model

                make_tiny_model(folder, seed=seed)
        paths.append(str(folder))
    return paths


def measure(models: list[str], size: int, steps: int) -> dict[str, Any]:
    base = _spawn("baseline", models, size, steps)
    a = _spawn("one", models[:1], size, steps)
    b = _spawn("one", models[1:], size, steps)
    both = _spawn("both", models, size, steps)
    b0 = base["baseline"]["VmRSS"]

    def over(reading: dict[str, int]) -> float:
        return (reading["VmRSS"] - b0) / MIB

    alone = over(a["loaded"]) + over(b["loaded"])
    alone_jobs = over(a["after_jobs"]) + over(b["after_jobs"])
    weights = (a["weight_bytes"][0] + b["weight_bytes"][0]) / MIB
    return {
        "baseline_mib": b0 / MIB,
        "weights_mib": [a["weight_bytes"][0] / MIB, b["weight_bytes"][0] / MIB],
        "a_loaded_mib": over(a["loaded"]),
        "a_after_jobs_mib": over(a["after_jobs"]),
        "b_loaded_mib": over(b["loaded"]),
        "b_after_jobs_mib": over(b["after_jobs"]),
        "both_loaded_mib": over(both["loaded"]),
        "both_after_jobs_mib": over(both["after_jobs"]),
        "both_rss_anon_mib": both["after_jobs"]["RssAnon"] / MIB,
        "both_rss_file_mib": both["after_jobs"]["RssFile"] / MIB,
        "both_peak_mib": both["after_jobs"]["VmHWM"] / MIB,
        "ratio": over(both["after_jobs"]) / alone,
        "ratio_loaded": over(both["loaded"]) / alone,
        "ratio_vs_alone_after_jobs": over(both["after_jobs"]) / alone_jobs,
        "ratio_vs_weights": over(both["after_jobs"]) / weights,
        "sharing": both["sharing"],
        "load_s": both["load_s"],
        "jobs_s": both["jobs_s"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["tiny", "sd15"], default="sd15")
    parser.add_argument("--size", type=int, default=64, help="generation size (txt2img and variation)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--model-dir", default="", help="keep/reuse the models here (default: a temp dir)")
    parser.add_argument("--child", choices=["baseline", "one", "both"], help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()

    from gen.quiet import quiet_progress_bars

    quiet_progress_bars()
    if args.child:
        import diffusers
        import torch

        import gen.engine  # noqa: F401

        print(json.dumps(asyncio.run(_child(args.child, args.models, args.size, args.steps))))
        return 0

    import diffusers
    import torch

    root = Path(args.model_dir) if args.model_dir else Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        print(
            f"torch {torch.__version__}, diffusers {diffusers.__version__}, shape {args.shape}, "
            f"{args.size}x{args.size}, {args.steps} steps"
        )
        started = time.perf_counter()
        models = make_models(args.shape, root)
        print(f"models ready in {time.perf_counter() - started:.0f} s: {', '.join(models)}")
        r = measure(models, args.size, args.steps)
    finally:
        if not args.model_dir:
            shutil.rmtree(root, ignore_errors=True)
    print(f"baseline (torch + diffusers + engine imported): {r['baseline_mib']:.0f} MiB")
    print(f"weights: A {r['weights_mib'][0]:.0f} MiB, B {r['weights_mib'][1]:.0f} MiB (float32 in memory)")
    print(
        f"over baseline — A loaded {r['a_loaded_mib']:.0f} MiB, after jobs {r['a_after_jobs_mib']:.0f}; "
        f"B loaded {r['b_loaded_mib']:.0f}, after jobs {r['b_after_jobs_mib']:.0f}"
    )
    print(
        f"both in one pool — loaded {r['both_loaded_mib']:.0f} MiB, after txt2img + variation + edit in "
        f"each {r['both_after_jobs_mib']:.0f} MiB (anon {r['both_rss_anon_mib']:.0f}, file-backed "
        f"{r['both_rss_file_mib']:.0f}; peak {r['both_peak_mib']:.0f} MiB)"
    )
    print(
        f"ratio both/(A+B) = {r['ratio']:.3f} (goal <= 1.1); loaded only {r['ratio_loaded']:.3f}; vs A+B "
        f"after their own jobs {r['ratio_vs_alone_after_jobs']:.3f}; vs weights {r['ratio_vs_weights']:.3f}"
    )
    s = r["sharing"]
    print(
        f"img2img/inpaint share txt2img's modules: {s['same_modules']}, parameter storage: "
        f"{s['same_storage']}; the two models share nothing: {s['models_disjoint']}"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(json.dumps({"bench": "memory", "shape": args.shape, **r}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
