"""Engine options on CPU, measured: channels-last UNet, attention back-ends, VAE tiling/slicing, compile.

    .venv/bin/python benchmarks/bench_options.py [--shape sd15|tiny] [--size 256] [--repeats 3]
        [--parts channels_last,attention,vae,compile] [--compile-timeout 300]

Goal (issue #17): gen.compile, channels-last, VAE tiling/slicing and the attention back-end are choices made
from measurements, on by default only where a measurement shows they help. Each variant is timed
interleaved with the others (A/B/A/B…, --repeats rounds after one warm-up call each), so load from other
processes on a shared machine falls on all of them alike; medians, and the ratio to the default.

- channels_last: denoising steps (UNet forward at batch 2, i.e. one image with classifier-free guidance)
  with the UNet's weights contiguous (default) vs `unet.to(memory_format=torch.channels_last)`;
- attention: the same steps with diffusers' AttnProcessor2_0 (torch SDPA, the default) unrestricted, with
  `torch.nn.attention.sdpa_kernel` limited to each SDPBackend (those without a CPU kernel are recorded as
  unavailable), and with the classic `AttnProcessor` (explicit softmax(QKᵀ)V);
- vae: decodes in fresh child processes (time, and peak resident memory over the loaded process from
  VmHWM after resetting it): slicing off/on for 4 images, tiling off/on for one image larger than the
  VAE's tile (tiling only applies above it: 512² for both shapes);
- compile: `torch.compile(unet)` (inductor, default mode) in a child process: the first call (compiling)
  timed apart, then compiled vs eager steps interleaved; a missing C compiler or a timeout is recorded.

`--shape sd15` uses a random-weight model with SD 1.5's exact sizes (gen.shapes; written to a temporary
folder, removed afterwards), at --size 256 by default; `--shape tiny` the tiny model, at 512².
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what importing gen does in the app (gen/__init__.py)

PARTS = ("channels_last", "attention", "vae", "compile")
Variant = tuple[Callable[[], None], Callable[[], AbstractContextManager[Any]]]  # (set up, context of a call)


def interleaved(variants: dict[str, Variant], call: Callable[[], None], repeats: int) -> dict[str, Any]:
    """Median seconds of `call` under each variant, rounds interleaved; ratio to the first variant."""
    import torch

    times: dict[str, list[float]] = {name: [] for name in variants}
    errors: dict[str, str] = {}
    with torch.no_grad():
        for rnd in range(repeats + 1):  # round 0: warm-up, not counted
            for name, (setup, context) in variants.items():
                if name in errors:
                    continue
                setup()
                try:
                    with context():
                        started = time.perf_counter()
                        call()
                        elapsed = time.perf_counter() - started
                except RuntimeError as exc:
                    errors[name] = str(exc).strip().splitlines()[0][:160]
                    continue
                if rnd:
                    times[name].append(elapsed)
    first = next(iter(variants))
    out: dict[str, Any] = {}
    for name, values in times.items():
        if name in errors:
            out[name] = {"error": errors[name]}
            continue
        med = statistics.median(values)
        out[name] = {"median_s": med, "all_s": values, "ratio": med / statistics.median(times[first])}
    return out


def _unet_inputs(unet: Any, size: int) -> tuple[Any, ...]:
    import torch

    gen = torch.Generator().manual_seed(0)
    latent = size // 8
    sample = torch.randn(2, unet.config.in_channels, latent, latent, generator=gen)
    text = torch.randn(2, 77, unet.config.cross_attention_dim, generator=gen)
    return sample, torch.tensor(500), text


def steps_call(unet: Any, size: int, steps: int) -> Callable[[], None]:
    """`steps` UNet forwards at batch 2 on fixed inputs (what one denoising step of one image costs)."""
    sample, t, text = _unet_inputs(unet, size)

    def call() -> None:
        for _ in range(steps):
            unet(sample, t, encoder_hidden_states=text)

    return call


def channels_last(unet: Any, size: int, steps: int, repeats: int) -> dict[str, Any]:
    import torch

    variants: dict[str, Variant] = {
        "contiguous (default)": (lambda: unet.to(memory_format=torch.contiguous_format), nullcontext),
        "channels_last": (lambda: unet.to(memory_format=torch.channels_last), nullcontext),
    }
    result = interleaved(variants, steps_call(unet, size, steps), repeats)
    unet.to(memory_format=torch.contiguous_format)
    return result


def _restricted(backend: Any) -> Callable[[], AbstractContextManager[Any]]:
    from torch.nn.attention import sdpa_kernel

    return lambda: sdpa_kernel([backend])


def attention(unet: Any, size: int, steps: int, repeats: int) -> dict[str, Any]:
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0
    from torch.nn.attention import SDPBackend

    default = type(next(iter(unet.attn_processors.values()))).__name__

    def use(processor: type) -> Callable[[], None]:
        return lambda: unet.set_attn_processor(processor())

    name = f"SDPA any backend ({default}, default)"
    variants: dict[str, Variant] = {name: (use(AttnProcessor2_0), nullcontext)}
    for backend in ("MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"):
        if hasattr(SDPBackend, backend):
            variants[f"SDPA {backend}"] = (use(AttnProcessor2_0), _restricted(getattr(SDPBackend, backend)))
    variants["classic AttnProcessor"] = (use(AttnProcessor), nullcontext)
    result = interleaved(variants, steps_call(unet, size, steps), repeats)
    unet.set_attn_processor(AttnProcessor2_0())
    return {"default_processor": default, **result}


# -- VAE, one child process per decode ----------------------------------------------------------------


def _peak_reset() -> int:
    """Reset VmHWM (peak RSS) to the current RSS; return that RSS in bytes."""
    from gen.memory import trim_heap

    trim_heap()
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _vae_child(vae_dir: str, images: int, size: int, tiling: bool, slicing: bool) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    vae = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.float32)
    if tiling:
        vae.enable_tiling()
    if slicing:
        vae.enable_slicing()
    z = torch.randn(images, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(0))
    before = _peak_reset()
    with torch.no_grad():
        started = time.perf_counter()
        vae.decode(z)
        elapsed = time.perf_counter() - started
    return {
        "s": elapsed,
        "peak_over_mib": (_status("VmHWM") - before) / 2**20,
        "tile": vae.tile_sample_min_size,
    }


VaeCase = tuple[str, int, int, list[tuple[bool, bool]]]


def vae(vae_dir: str, cases: list[VaeCase], repeats: int) -> dict[str, Any]:
    """Each case: name, images, size, [(tiling, slicing)…]; every decode a fresh child, rounds interleaved."""
    out: dict[str, Any] = {}
    for name, images, size, combos in cases:
        runs: dict[str, list[dict[str, Any]]] = {f"tiling={t} slicing={s}": [] for t, s in combos}
        for _ in range(repeats):
            for tiling, slicing in combos:
                cmd = [sys.executable, __file__, "--vae-child", vae_dir, str(images), str(size)]
                cmd += [str(int(tiling)), str(int(slicing))]
                text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                runs[f"tiling={tiling} slicing={slicing}"].append(json.loads(text.strip().splitlines()[-1]))
        first = next(iter(runs.values()))
        base_s = statistics.median(r["s"] for r in first)
        base_mib = statistics.median(r["peak_over_mib"] for r in first)
        out[name] = {"images": images, "size": size, "tile": first[0]["tile"]}
        for combo, rs in runs.items():
            med_s = statistics.median(r["s"] for r in rs)
            med_mib = statistics.median(r["peak_over_mib"] for r in rs)
            out[name][combo] = {
                "median_s": med_s,
                "time_ratio": med_s / base_s,
                "peak_mib": med_mib,
                "peak_ratio": med_mib / base_mib,
                "all_s": [r["s"] for r in rs],
            }
    return out


# -- torch.compile, in a child process ---------------------------------------------------------------


def _compile_child(model: str, size: int, steps: int, repeats: int) -> dict[str, Any]:
    import torch

    from gen.loader import load_pipeline

    pipe = load_pipeline(model, device="cpu", data_dir=Path(tempfile.gettempdir()))
    unet = pipe.unet
    compiled = torch.compile(unet)
    sample, t, text = _unet_inputs(unet, size)
    out: dict[str, Any] = {}
    with torch.no_grad():
        started = time.perf_counter()
        compiled(sample, t, encoder_hidden_states=text)
        out["compile_and_first_call_s"] = time.perf_counter() - started
        started = time.perf_counter()
        compiled(sample, t, encoder_hidden_states=text)
        out["second_call_s"] = time.perf_counter() - started
    calls = {"eager": steps_call(unet, size, steps), "compiled": steps_call(compiled, size, steps)}
    current = {"name": "eager"}

    def pick(name: str) -> Callable[[], None]:
        return lambda: current.update(name=name)

    variants: dict[str, Variant] = {name: (pick(name), nullcontext) for name in calls}
    out.update(interleaved(variants, lambda: calls[current["name"]](), repeats))
    return out


def compile_part(model: str, size: int, steps: int, repeats: int, timeout: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--compile-child", model, "--size", str(size), "--steps", str(steps)]
    cmd += ["--repeats", str(repeats)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout} s (compiling + steps)"}
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": (lines[-1] if lines else f"exit {proc.returncode}")[:300]}
    result = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    result["child_wall_s"] = time.perf_counter() - started
    return result


def _print_timed(title: str, result: dict[str, Any]) -> None:
    print(title)
    for name, r in result.items():
        if isinstance(r, dict) and "error" in r:
            print(f"  {name}: unavailable — {r['error']}")
        elif isinstance(r, dict) and "median_s" in r:
            print(f"  {name}: median {r['median_s']:.3f} s -> x{r['ratio']:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["tiny", "sd15"], default="sd15")
    parser.add_argument("--size", type=int, default=0, help="UNet step size (default: 256 sd15, 512 tiny)")
    parser.add_argument("--steps", type=int, default=2, help="UNet steps per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vae-repeats", type=int, default=3)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--compile-timeout", type=int, default=300)
    parser.add_argument("--model-dir", default="", help="keep/reuse the model here (default: a temp dir)")
    parser.add_argument("--vae-child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--compile-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size or (256 if args.shape == "sd15" else 512)

    from gen.quiet import quiet_progress_bars

    quiet_progress_bars()
    if args.vae_child:
        d, n, s, t, sl = args.vae_child
        print(json.dumps(_vae_child(d, int(n), int(s), t == "1", sl == "1")))
        return 0
    if args.compile_child:
        print(json.dumps(_compile_child(args.compile_child, size, args.steps, args.repeats)))
        return 0

    import diffusers
    import torch

    from gen.loader import load_pipeline

    parts = [p for p in args.parts.split(",") if p]
    root = Path(args.model_dir) if args.model_dir else Path(tempfile.mkdtemp(prefix="bench-options-"))
    results: dict[str, Any] = {
        "shape": args.shape,
        "size": size,
        "steps": args.steps,
        "repeats": args.repeats,
    }
    try:
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        print(
            f"torch {torch.__version__}, diffusers {diffusers.__version__}, "
            f"{torch.get_num_threads()} threads, "
            f"CPU capability {torch.backends.cpu.get_cpu_capability()}, shape {args.shape}, {size}x{size}"
        )
        folder = root / args.shape
        if not (folder / "model_index.json").is_file():
            if args.shape == "sd15":
                from gen.shapes import make_shaped_model

                make_shaped_model(folder, "sd15")
            else:
                from gen.tiny import make_tiny_model

                make_tiny_model(folder)
        pipe = load_pipeline(str(folder), device="cpu", data_dir=root)
        unet = pipe.unet
        if "channels_last" in parts:
            results["channels_last"] = channels_last(unet, size, args.steps, args.repeats)
            _print_timed(f"channels-last UNet, {args.steps} steps at batch 2:", results["channels_last"])
        if "attention" in parts:
            results["attention"] = attention(unet, size, args.steps, args.repeats)
            _print_timed(f"attention, {args.steps} steps at batch 2:", results["attention"])
        del pipe, unet
        if "vae" in parts:
            both = [(False, False), (False, True), (True, False), (True, True)]
            cases = (
                [
                    ("slicing, 4 images", 4, 256, [(False, False), (False, True)]),
                    ("tiling, 1 image", 1, 576, [(False, False), (True, False)]),
                ]
                if args.shape == "sd15"
                else [("4 images", 4, 1024, both)]
            )
            results["vae"] = vae(str(folder / "vae"), cases, args.vae_repeats)
            for name, case in results["vae"].items():
                print(f"VAE decode, {name} at {case['size']}² (tile {case['tile']}):")
                for combo, r in case.items():
                    if isinstance(r, dict):
                        print(
                            f"  {combo}: {r['median_s']:.2f} s (x{r['time_ratio']:.3f}), "
                            f"peak +{r['peak_mib']:.0f} MiB (x{r['peak_ratio']:.3f})"
                        )
        if "compile" in parts:
            r = compile_part(str(folder), size, args.steps, args.repeats, args.compile_timeout)
            results["compile"] = r
            if "error" in r:
                print(f"torch.compile: {r['error']}")
            else:
                print(
                    f"torch.compile: compile + first call {r['compile_and_first_call_s']:.1f} s, "
                    f"second call {r['second_call_s']:.2f} s"
                )
                _print_timed(f"  steady state, {args.steps} steps at batch 2:", r)
    finally:
        if not args.model_dir:
            shutil.rmtree(root, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(json.dumps({"bench": "options", **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
