"""GPU benchmark (issue #17): images/s, MFU, torch.compile and channels-last, cross-job batching, memory.

    python benchmarks/bench_gpu.py [--budget-s 420] [--out FILE] [--steps 20] [--parts all] [--smoke]

Runs on random-weight pipelines with SD 1.5's and SDXL's real sizes (gen.shapes), fp16 on CUDA, built
in memory: nothing is downloaded. Parts, in the order they run; each is guarded (a failure is recorded
under "errors" and the rest goes on), and a part that would start after --budget-s is listed under
"skipped":

- env: versions, GPU, memory, CUDA, date (UTC), and one large fp16 matmul's TFLOP/s for scale.
- sd15: SD 1.5 at 512², --steps per call, batch 1/4/8/16. Plain pipeline calls with output_type="pil"
  (text encoding, denoising, VAE decode and the conversion to PIL are all in the timed call); one
  warm-up call, then the median (and best) of --repeats calls, CUDA synchronised around each. Peak
  memory per batch size (max_memory_allocated, reset before its warm-up). The VAE decode alone and one
  UNet forward (at the CFG batch 2B, the inputs the pipeline passed) are timed separately.
- MFU (with sd15 and sdxl): FLOPs counted with torch.utils.flop_counter.FlopCounterMode (matmuls,
  convolutions, attention; elementwise work is not counted, as usual for MFU). UNet-only: one UNet
  forward at the CFG batch / its time; whole call: one complete pipeline call (text encoder, every UNet
  call — SD 1.5's PNDM makes steps + 1 —, VAE decode) / the median call time; both divided by the GPU's
  dense fp16 tensor peak (gpu_common.PEAK_FP16, or --peak-tflops; unknown GPU: FLOP/s only).
- engine: cross-job batching through the project's DiffusersEngine: 8 jobs × 4 images (different
  prompts and seeds), one engine call per job vs calls of 2 and 4 jobs (8 and 16 images), best of
  --engine-repeats passes; the engine's calls include its PNG encoding. Plus PNG encoding time per
  image on this host's CPU (png_bytes), on the engine's (noise) images and on a smooth picture, against
  the engine's and the plain pipeline's time per image.
- compile: the UNet at batch 8 with torch.compile off/on × channels-last off/on (pipeline call and one
  UNet forward); the compile (first call) time is reported apart and not in the throughput.
- sdxl: SDXL at 1024², batch 1 and 4 (images/s, peak memory, MFU), if the budget allows.

`--smoke` runs every part on the CPU with the tiny model (gen.tiny, float32, 64², 2 steps, batches
1/2, torch.compile with the "eager" backend) to test the script itself. Prints one line per
measurement, then one JSON line with everything (also written to --out after every part; on SIGTERM
what was measured is still written and printed). `--check` tests the imports and the GPU (exit 3 if
unusable); `--summary FILE` prints a digest of a results file. benchmarks/gpu.sh wraps it all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# benchmarks/ is on sys.path as a script
from gpu_common import GUIDANCE, BenchBase, one_line, pct, say  # noqa: E402
from gpu_compile import part_compile  # noqa: E402
from gpu_engine import part_engine  # noqa: E402
from gpu_throughput import part_env, part_sd15, part_sdxl  # noqa: E402

PARTS = ("env", "sd15", "engine", "compile", "sdxl")

# Python modules the benchmark imports (top-level names), for --check.
REQUIRED = (
    "torch",
    "diffusers",
    "transformers",
    "huggingface_hub",
    "safetensors",
    "tokenizers",
    "regex",
    "numpy",
    "PIL",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "dotenv",
    "annotated_types",
    "typing_inspection",
    "typing_extensions",
)


class Terminated(BaseException):
    """SIGTERM (the wrapper's timeout): stop, write what was measured, print it."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated(f"signal {signum}")


class Bench(BenchBase):
    """Runs the parts against one deadline and collects their results."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args = args
        self.smoke: bool = args.smoke
        self.device = torch.device("cpu" if self.smoke else "cuda")
        self.dtype = torch.float32 if self.smoke else torch.float16
        self.size: int = args.size or (64 if self.smoke else 512)
        self.sdxl_size: int = args.sdxl_size or (64 if self.smoke else 1024)
        self.steps: int = args.steps or (2 if self.smoke else 20)
        self.batches: list[int] = args.batches or ([1, 2] if self.smoke else [1, 4, 8, 16])
        self.sdxl_batches: list[int] = args.sdxl_batches or ([1, 2] if self.smoke else [1, 4])
        self.compile_batch: int = args.compile_batch or (2 if self.smoke else 8)
        self.repeats: int = args.repeats
        self.engine_repeats: int = args.engine_repeats
        self.started = time.monotonic()
        self.deadline = self.started + args.budget_s
        self.peak: float | None = None
        self.pipe: Any = None
        self.unet_flops: dict[int, int] = {}  # SD 1.5 UNet forward FLOPs by image batch
        self.sd15_call_s: dict[int, float] = {}
        self.results: dict[str, Any] = {
            "benchmark": "bench_gpu",
            "mode": "smoke" if self.smoke else "gpu",
            "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "settings": {
                "budget_s": args.budget_s,
                "steps": self.steps,
                "size": self.size,
                "sdxl_size": self.sdxl_size,
                "batches": self.batches,
                "sdxl_batches": self.sdxl_batches,
                "repeats": self.repeats,
                "engine_repeats": self.engine_repeats,
                "guidance_scale": GUIDANCE,
                "dtype": str(self.dtype).removeprefix("torch."),
                "device": self.device.type,
                "output": "pil (decode and PIL conversion inside the timed call)",
                "compile_mode": args.compile_mode,
                "compile_backend": self.compile_backend(),
            },
            "parts": {},
            "errors": {},
            "skipped": [],
            "part_seconds": {},
        }

    # -- bookkeeping ------------------------------------------------------------------------------

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def run_part(self, name: str, fn: Callable[[], dict[str, Any]], *, min_left: float = 0.0) -> None:
        """Run one part if the budget allows; record its result, or its error, and save."""
        if self.left() <= min_left:
            self.results["skipped"].append(name)
            say(f"[{name}] skipped: {self.left():.0f} s of the budget left (needs > {min_left:.0f} s)")
            return
        say(f"[{name}] start at {self.elapsed():.0f} s")
        started = time.monotonic()
        try:
            self.results["parts"][name] = fn()
        except Terminated:
            self.results["errors"][name] = "terminated while running"
            raise
        except Exception as exc:
            self.results["errors"][name] = one_line(exc)
            traceback.print_exc()
            say(f"[{name}] FAILED: {one_line(exc)}")
            self.free()
        finally:
            self.results["part_seconds"][name] = round(time.monotonic() - started, 1)
            self.save()

    def save(self) -> None:
        self.results["elapsed_s"] = round(self.elapsed(), 1)
        if self.args.out:
            out = Path(self.args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(self.results, indent=1) + "\n")


def check() -> int:
    """Exit 0 when everything the benchmark imports is importable and torch sees a GPU, else 3."""
    import importlib.util

    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        say("missing Python modules: " + " ".join(missing))
        return 3
    try:
        import torch

        import gen.engine
        import gen.shapes  # noqa: F401
        import imaginebot.core.images  # noqa: F401
    except Exception as exc:
        say(f"import failed: {one_line(exc)}")
        return 3
    if not torch.cuda.is_available():
        say(f"torch {torch.__version__} sees no CUDA GPU")
        return 3
    say(f"ok: torch {torch.__version__} (CUDA {torch.version.cuda}) on {torch.cuda.get_device_name(0)}")
    return 0


def summary(results: dict[str, Any]) -> list[str]:
    """A short human-readable digest of a results dict (what --summary prints)."""
    parts = results.get("parts", {})
    env = parts.get("env", {})
    lines = [
        f"{results.get('date_utc')} {results.get('mode')} on {env.get('gpu') or 'CPU'} "
        f"(host {env.get('host')}, torch {env.get('torch')}, CUDA {env.get('cuda')}, diffusers "
        f"{env.get('diffusers')}); peak fp16 {env.get('peak_fp16_dense_tflops')} TFLOP/s, matmul "
        f"{env.get('matmul_tflops')} TFLOP/s; {results.get('elapsed_s')} s"
    ]
    for shape in ("sd15", "sdxl"):
        part = parts.get(shape)
        if not part:
            continue
        lines.append(
            f"{shape} {part.get('size')}², {part.get('steps')} steps, {part.get('built_on', 'cpu')}:"
        )
        for row in part.get("batches", []):
            if "error" in row:
                lines.append(f"  batch {row['batch']}: {row['error']}")
                continue
            lines.append(
                f"  batch {row['batch']:>2}: {row['images_per_s']:.2f} images/s, MFU UNet "
                f"{pct(row.get('mfu_unet'))} / call {pct(row.get('mfu_call'))}, "
                f"{row.get('peak_allocated_gib')} GiB peak"
            )
        if "mfu_goal_met" in part:
            lines.append(f"  best whole-call MFU {pct(part['best_mfu_call'])} (goal {pct(part['mfu_goal'])})")
    engine = parts.get("engine")
    if engine:
        gains = ", ".join(
            f"{m['jobs_per_call']} jobs/call x{m['throughput_ratio_vs_one_job_per_call']:.2f}"
            for m in engine["modes"]
        )
        png = engine["png"]
        lines.append(
            f"engine batching (8 jobs x 4 images): {gains}; PNG {png['png_ms_per_image_noise']} ms/image "
            f"(smooth {png['png_ms_per_image_smooth']}) vs {png['engine_ms_per_image_best']} ms engine/image"
        )
    compiled = parts.get("compile")
    if compiled:
        for row in compiled["combos"]:
            if "median_s" not in row:
                lines.append(f"  {row['combo']}: {row.get('error') or row.get('skipped')}")
                continue
            extra = f", compile {row['compile_s']:.0f} s" if row.get("compile_s") is not None else ""
            speedup = row.get("speedup_vs_eager", float("nan"))
            lines.append(
                f"batch {compiled['batch']} {row['combo']}: {row['images_per_s']:.2f} images/s "
                f"(x{speedup:.2f}), MFU UNet {pct(row.get('mfu_unet'))}{extra}"
            )
    for name, error in results.get("errors", {}).items():
        lines.append(f"error in {name}: {error}")
    if results.get("skipped"):
        lines.append("skipped: " + ", ".join(results["skipped"]))
    return lines


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=420.0, help="no part starts after this (s)")
    parser.add_argument("--out", default="", help="JSON results file (rewritten after every part)")
    parser.add_argument("--parts", default="all", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--steps", type=int, default=0, help="denoising steps per call (default 20)")
    parser.add_argument("--size", type=int, default=0, help="SD 1.5 side in pixels (default 512)")
    parser.add_argument("--sdxl-size", type=int, default=0, help="SDXL side in pixels (default 1024)")
    parser.add_argument("--batches", type=int, nargs="*", default=None, help="default 1 4 8 16")
    parser.add_argument("--sdxl-batches", type=int, nargs="*", default=None, help="default 1 4")
    parser.add_argument("--compile-batch", type=int, default=0, help="default 8")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement")
    parser.add_argument("--engine-repeats", type=int, default=2, help="passes over the 8 jobs per mode")
    parser.add_argument("--compile-mode", default="default", help="e.g. max-autotune-no-cudagraphs")
    parser.add_argument("--compile-backend", default="", help="default inductor (smoke: eager)")
    parser.add_argument(
        "--min-compile-left", type=float, default=90.0, help="compile only with this much budget left (s)"
    )
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="override the GPU's fp16 peak")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model: test the script")
    parser.add_argument("--check", action="store_true", help="check imports and the GPU, then exit")
    parser.add_argument("--summary", metavar="FILE", help="print a digest of a results file, then exit")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    if args.summary:
        for line in summary(json.loads(Path(args.summary).read_text())):
            say(line)
        return 0
    chosen = PARTS if args.parts == "all" else tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        parser.error(f"unknown parts {unknown} (choose from {', '.join(PARTS)})")
    if args.smoke:
        args.min_compile_left = min(args.min_compile_left, 0.0)

    import torch

    if not args.smoke and not torch.cuda.is_available():
        say(f"torch {torch.__version__} sees no CUDA GPU (use --smoke to test on the CPU)")
        return 3
    bench = Bench(args)
    plan: list[tuple[str, Callable[[], dict[str, Any]], float]] = [
        ("env", partial(part_env, bench), 0.0),
        ("sd15", partial(part_sd15, bench), 0.0),
        ("engine", partial(part_engine, bench), 0.0),
        ("compile", partial(part_compile, bench), 0.0),
        ("sdxl", partial(part_sdxl, bench), 0.0 if args.smoke else 40.0),
    ]
    with _sigterm_raises():
        try:
            if "env" not in chosen:  # the peak FLOP/s comes from it; it is cheap
                chosen = ("env", *chosen)
            for name, fn, min_left in plan:
                if name in chosen:
                    bench.run_part(name, fn, min_left=min_left)
        except Terminated as exc:
            done = set(bench.results["parts"]) | set(bench.results["errors"])
            bench.results["terminated"] = str(exc)
            bench.results["skipped"] += [n for n, _, _ in plan if n in chosen and n not in done]
            say(f"terminated ({exc}) after {bench.elapsed():.0f} s")
    bench.save()
    say(json.dumps(bench.results, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
