"""Shared pieces of the GPU benchmark (benchmarks/bench_gpu.py): the constants, the peak FLOP/s table,
FLOP counting, a UNet call probe, and `BenchBase` (timing, memory, MFU, building and calling pipelines).
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from typing import Any

PROMPTS = ["a red fox in snow", "a lighthouse at dusk", "portrait of an old sailor", "a bowl of ramen"]
NEGATIVE = "blurry, low quality"
GUIDANCE = 7.0
MFU_GOAL = 0.40  # issue #17: SD 1.5 at 512²

# Dense (no sparsity) fp16/bf16 tensor-core peak FLOP/s, by GPU name; the first matching row wins.
PEAK_FP16: tuple[tuple[str, float], ...] = (
    (r"h200", 989.4e12),
    (r"h100.*pcie", 756e12),
    (r"h100.*nvl", 835e12),
    (r"h100", 989.4e12),  # SXM / "H100 80GB HBM3"
    (r"a100", 312e12),
    (r"\bl4\b", 121e12),
)


def say(text: str) -> None:
    print(text, flush=True)


def peak_fp16(name: str) -> float | None:
    """The dense fp16 tensor peak FLOP/s of the GPU called `name`; None when not in PEAK_FP16."""
    lowered = name.lower()
    for pattern, peak in PEAK_FP16:
        if re.search(pattern, lowered):
            return peak
    return None


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:400]


def sig(value: float, digits: int = 4) -> float:
    """`value` rounded to `digits` significant digits."""
    return float(f"{value:.{digits}g}")


def on(flag: bool) -> str:
    return "on" if flag else "off"


def pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "n/a"


def _detached_copy(value: Any) -> Any:
    import torch

    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def count_flops(fn: Callable[[], Any]) -> tuple[int, dict[str, int]]:
    """FLOPs of `fn()` as FlopCounterMode counts them (total, and by aten op)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn()
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), by_op


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def nvidia_driver() -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


class UnetProbe:
    """Counts a UNet's forward calls and keeps the inputs of the first one."""

    def __init__(self, unet: Any) -> None:
        self.calls = 0
        self._inputs: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._handle = unet.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.calls += 1
        if self._inputs is None:
            from torch.utils._pytree import tree_map

            self._inputs = tree_map(_detached_copy, (args, kwargs))

    def inputs(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self._inputs is None:
            raise RuntimeError("the UNet was not called")
        return self._inputs

    def remove(self) -> None:
        self._handle.remove()


class BenchBase:
    """Device helpers and pipeline building/calling; bench_gpu.Bench sets the attributes below."""

    args: Any
    smoke: bool
    device: Any
    dtype: Any
    size: int
    steps: int
    peak: float | None
    pipe: Any

    # -- device helpers ---------------------------------------------------------------------------

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def timed(self, fn: Callable[[], Any]) -> float:
        self.sync()
        t = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t

    def reset_peak(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def peak_memory(self) -> dict[str, float | None]:
        import torch

        if self.device.type != "cuda":
            return {"peak_allocated_gib": None, "peak_reserved_gib": None}
        gib = 1024**3
        return {
            "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / gib, 2),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / gib, 2),
        }

    def free(self) -> None:
        import torch

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def mfu(self, flops: float, seconds: float) -> float | None:
        return round(flops / seconds / self.peak, 4) if self.peak and seconds > 0 else None

    def compile_backend(self) -> str:
        return self.args.compile_backend or ("eager" if self.smoke else "inductor")

    # -- building ---------------------------------------------------------------------------------

    def build(self, shape: str) -> tuple[Any, dict[str, Any]]:
        """The pipeline of `shape` ("sd15"/"sdxl") on the device in the benchmark's dtype."""
        import torch

        from gen.quiet import quiet_progress_bars

        quiet_progress_bars()
        info: dict[str, Any] = {}
        started = time.perf_counter()
        if self.smoke:
            from gen.tiny import build_tiny_pipeline

            pipe = build_tiny_pipeline(sdxl=shape == "sdxl")
            info["model"] = f"tiny-{shape}"
        else:
            from gen.shapes import build_shaped_pipeline

            info["model"] = f"{shape}-shaped random weights (gen.shapes)"
            try:  # drawing the weights on the GPU: seconds instead of a minute of CPU init + copy
                with torch.device(self.device):
                    pipe = build_shaped_pipeline(shape, seed=0)
                # the scheduler's tables stay on the CPU, as in a loaded pipeline
                pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
                info["built_on"] = "cuda"
            except Exception as exc:
                info["built_on"] = f"cpu ({one_line(exc)})"
                pipe = None
                self.free()
                pipe = build_shaped_pipeline(shape, seed=0)
        pipe.to(self.device, self.dtype)
        pipe.set_progress_bar_config(disable=True)
        self.sync()
        info["build_s"] = round(time.perf_counter() - started, 1)
        params = {
            name: sum(p.numel() for p in module.parameters())
            for name, module in pipe.components.items()
            if isinstance(module, torch.nn.Module)
        }
        info["parameters_m"] = {k: round(v / 1e6, 1) for k, v in params.items()}
        say(f"  built {info['model']} in {info['build_s']} s ({sum(params.values()) / 1e9:.2f} G parameters)")
        return pipe, info

    def ensure_sd15(self) -> Any:
        if self.pipe is None:
            self.pipe, _ = self.build("sd15")
        return self.pipe

    def call(self, pipe: Any, batch: int, size: int, output_type: str = "pil") -> Any:
        """One plain diffusers call: `batch` images of one prompt, classifier-free guidance on."""
        import torch

        return pipe(
            PROMPTS[0],
            negative_prompt=NEGATIVE,
            height=size,
            width=size,
            num_inference_steps=self.steps,
            guidance_scale=GUIDANCE,
            num_images_per_prompt=batch,
            generator=torch.Generator("cpu").manual_seed(batch),
            output_type=output_type,
        )
