"""GPU benchmark part compile (benchmarks/bench_gpu.py): the SD 1.5 UNet with torch.compile off/on ×
channels-last off/on, pipeline calls and one UNet forward; the compile time is reported apart.
"""

from __future__ import annotations

import statistics
import traceback
from typing import TYPE_CHECKING, Any

from gpu_common import UnetProbe, count_flops, on, one_line, say, sig

if TYPE_CHECKING:
    from bench_gpu import Bench


def part_compile(bench: Bench) -> dict[str, Any]:
    import torch

    pipe = bench.ensure_sd15()
    batch, size = bench.compile_batch, bench.size
    orig = pipe.unet
    probe = UnetProbe(orig)
    try:
        bench.call(pipe, batch, size)
    finally:
        probe.remove()
    args, kwargs = probe.inputs()
    flops = bench.unet_flops.get(batch)
    if flops is None:
        with torch.no_grad():
            flops, _ = count_flops(lambda: orig(*args, **kwargs))
    rows: list[dict[str, Any]] = []
    baseline: float | None = None
    try:
        for compiled, channels_last in ((False, False), (False, True), (True, False), (True, True)):
            name = f"compile={on(compiled)}, channels_last={on(channels_last)}"
            if compiled and bench.left() < bench.args.min_compile_left:
                rows.append({"combo": name, "skipped": f"{bench.left():.0f} s of the budget left"})
                say(f"  {name}: skipped ({bench.left():.0f} s left)")
                continue
            try:
                rows.append(_compile_combo(bench, pipe, orig, compiled, channels_last, args, kwargs, flops))
            except Exception as exc:
                traceback.print_exc()
                rows.append({"combo": name, "error": one_line(exc)})
                say(f"  {name}: FAILED {one_line(exc)}")
            finally:
                pipe.unet = orig
                orig.to(memory_format=torch.contiguous_format)
                torch._dynamo.reset()
                bench.free()
            row = rows[-1]
            row["combo"] = name
            if "median_s" in row:
                if baseline is None and not compiled and not channels_last:
                    baseline = row["median_s"]
                if baseline:
                    row["speedup_vs_eager"] = round(baseline / row["median_s"], 3)
                say(
                    f"  {name}: {row['images_per_s']:.2f} images/s at batch {batch}, UNet fwd "
                    f"{row['unet_forward_s'] * 1e3:.1f} ms"
                    + (f", MFU UNet {row['mfu_unet']:.1%}" if row.get("mfu_unet") is not None else "")
                    + (f"; compile {row['compile_s']:.0f} s" if compiled else "")
                )
    finally:
        pipe.unet = orig
    return {"batch": batch, "size": size, "unet_forward_tflop": sig(flops / 1e12), "combos": rows}


def _compile_combo(
    bench: Bench,
    pipe: Any,
    orig: Any,
    compiled: bool,
    channels_last: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    flops: int,
) -> dict[str, Any]:
    import torch

    batch, size = bench.compile_batch, bench.size
    orig.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    unet = orig
    if compiled:
        unet = torch.compile(orig, mode=bench.args.compile_mode, backend=bench.compile_backend())
    pipe.unet = unet
    bench.reset_peak()
    first_s = bench.timed(lambda: bench.call(pipe, batch, size))  # compiles (when on)
    second_s = bench.timed(lambda: bench.call(pipe, batch, size))
    times = [bench.timed(lambda: bench.call(pipe, batch, size)) for _ in range(bench.repeats)]
    median = statistics.median(times)
    with torch.no_grad():
        fwd = lambda: unet(*args, **kwargs)  # noqa: E731
        fwd()
        n = 2 if bench.smoke else 10
        unet_s = bench.timed(lambda: [fwd() for _ in range(n)]) / n
    return {
        "first_call_s": round(first_s, 2),
        "second_call_s": round(second_s, 3),
        "compile_s": round(first_s - median, 2) if compiled else None,
        "call_s": [round(t, 4) for t in times],
        "median_s": round(median, 4),
        "images_per_s": round(batch / median, 3),
        "unet_forward_s": round(unet_s, 5),
        "unet_tflops": sig(flops / unet_s / 1e12),
        "mfu_unet": bench.mfu(flops, unet_s),
        **bench.peak_memory(),
    }
