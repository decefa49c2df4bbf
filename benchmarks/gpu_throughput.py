"""GPU benchmark parts env, sd15 and sdxl (benchmarks/bench_gpu.py): versions and the GPU's peak, then
images/s, peak memory, UNet/VAE times, FLOPs and MFU per batch size of a pipeline.
"""

from __future__ import annotations

import os
import platform
import statistics
from typing import TYPE_CHECKING, Any

from gpu_common import MFU_GOAL, UnetProbe, count_flops, is_oom, nvidia_driver, one_line, peak_fp16, say, sig

if TYPE_CHECKING:
    from bench_gpu import Bench


def part_env(bench: Bench) -> dict[str, Any]:
    import diffusers
    import torch
    import transformers

    env: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "matmul_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
    }
    if bench.device.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        name = torch.cuda.get_device_name(0)
        bench.peak = bench.args.peak_tflops * 1e12 if bench.args.peak_tflops else peak_fp16(name)
        env.update(
            gpu=name,
            gpu_memory_gib=round(props.total_memory / 1024**3, 1),
            multiprocessors=props.multi_processor_count,
            capability=f"{props.major}.{props.minor}",
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            driver=nvidia_driver(),
        )
    else:
        bench.peak = bench.args.peak_tflops * 1e12 if bench.args.peak_tflops else None
        env.update(gpu=None, cuda=torch.version.cuda)
    env["peak_fp16_dense_tflops"] = bench.peak / 1e12 if bench.peak else None
    n = 512 if bench.smoke else 8192
    env["matmul_tflops"] = round(matmul_tflops(bench, n), 2)
    bench.free()
    env["matmul_note"] = f"{n}×{n}×{n} {str(bench.dtype).removeprefix('torch.')}, random data"
    peak_text = f"{env['peak_fp16_dense_tflops']} TFLOP/s peak" if bench.peak else "peak unknown"
    say(
        f"  {env.get('gpu') or 'CPU'}: torch {env['torch']}, CUDA {env['cuda']}, diffusers "
        f"{env['diffusers']}, transformers {env['transformers']}; {peak_text}; "
        f"matmul {env['matmul_tflops']} TFLOP/s"
    )
    return env


def matmul_tflops(bench: Bench, n: int) -> float:
    """TFLOP/s of an n×n×n matrix product in the benchmark's dtype (mean of several)."""
    import torch

    a = torch.randn(n, n, device=bench.device, dtype=bench.dtype)
    b = torch.randn(n, n, device=bench.device, dtype=bench.dtype)
    a @ b
    reps = 3 if bench.smoke else 20
    seconds = bench.timed(lambda: [a @ b for _ in range(reps)]) / reps
    return 2 * n**3 / seconds / 1e12


def measure_batch(bench: Bench, pipe: Any, batch: int, size: int, label: str) -> dict[str, Any]:
    """Images/s, peak memory, UNet/VAE times and FLOPs, MFU for one batch size of `pipe`."""
    import torch

    unet = pipe.unet
    probe = UnetProbe(unet)
    bench.reset_peak()
    try:
        warm_s = bench.timed(lambda: bench.call(pipe, batch, size))
    finally:
        probe.remove()
    times = [bench.timed(lambda: bench.call(pipe, batch, size)) for _ in range(bench.repeats)]
    row: dict[str, Any] = {"batch": batch, "warmup_s": round(warm_s, 3)}
    median = statistics.median(times)
    row.update(
        call_s=[round(t, 4) for t in times],
        median_s=round(median, 4),
        images_per_s=round(batch / median, 3),
        images_per_s_best=round(batch / min(times), 3),
        unet_calls=probe.calls,
        **bench.peak_memory(),
    )
    args, kwargs = probe.inputs()
    with torch.no_grad():
        fwd = lambda: unet(*args, **kwargs)  # noqa: E731
        fwd()
        n = 2 if bench.smoke else 10
        unet_s = bench.timed(lambda: [fwd() for _ in range(n)]) / n
        latents = torch.randn(
            batch,
            4,
            size // pipe.vae_scale_factor,
            size // pipe.vae_scale_factor,
            device=bench.device,
            dtype=pipe.vae.dtype,
        )
        decode = lambda: pipe.vae.decode(latents, return_dict=False)  # noqa: E731
        decode()
        vae_s = bench.timed(decode)
        unet_flops, unet_ops = count_flops(fwd)
        vae_flops, _ = count_flops(decode)
    whole_flops, whole_ops = count_flops(lambda: bench.call(pipe, batch, size))
    row.update(
        _unet_flops=unet_flops,
        unet_forward_s=round(unet_s, 5),
        unet_cfg_batch=int(args[0].shape[0]) if args and hasattr(args[0], "shape") else None,
        denoise_share=round(probe.calls * unet_s / median, 3),
        vae_decode_s=round(vae_s, 4),
        vae_decode_dtype=str(pipe.vae.dtype).removeprefix("torch."),
        unet_forward_tflop=sig(unet_flops / 1e12),
        vae_decode_tflop=sig(vae_flops / 1e12),
        call_tflop=sig(whole_flops / 1e12),
        call_tflop_other=sig((whole_flops - probe.calls * unet_flops) / 1e12),
        attention_counted=any("attention" in op for op in unet_ops),
        unet_tflops=sig(unet_flops / unet_s / 1e12),
        call_tflops=sig(whole_flops / median / 1e12),
        mfu_unet=bench.mfu(unet_flops, unet_s),
        mfu_call=bench.mfu(whole_flops, median),
        call_flops_by_op_tflop={k: sig(v / 1e12) for k, v in sorted(whole_ops.items())},
    )
    mfu = (
        f"MFU UNet {row['mfu_unet']:.1%}, whole call {row['mfu_call']:.1%}"
        if row["mfu_call"] is not None
        else f"{row['unet_tflops']} TFLOP/s UNet, {row['call_tflops']} whole call (peak unknown)"
    )
    mem = f"{row['peak_allocated_gib']} GiB peak" if row["peak_allocated_gib"] is not None else "CPU"
    say(
        f"  {label} batch {batch:>2}: {row['images_per_s']:.2f} images/s (median {median:.3f} s/call, "
        f"{probe.calls} UNet calls, UNet fwd {unet_s * 1e3:.1f} ms at CFG batch {row['unet_cfg_batch']}, "
        f"VAE decode {vae_s * 1e3:.0f} ms); {mfu}; {mem}"
    )
    return row


def throughput(bench: Bench, shape: str, size: int, batches: list[int], keep: bool) -> dict[str, Any]:
    pipe, info = bench.build(shape)
    rows: list[dict[str, Any]] = []
    skipped: list[int] = []
    last: tuple[int, float] | None = None
    for batch in batches:
        # a call costs about batch/last_batch × the last one; warm-up + repeats + FLOP count ≈ repeats+3
        estimate = last[1] * batch / last[0] * (bench.repeats + 3) if last else 0.0
        if estimate > bench.left():
            skipped.append(batch)
            say(f"  batch {batch} skipped: ~{estimate:.0f} s needed, {bench.left():.0f} s left")
            continue
        try:
            row = measure_batch(bench, pipe, batch, size, shape)
        except Exception as exc:
            if not is_oom(exc):
                raise
            bench.free()
            row = {"batch": batch, "error": one_line(exc)}
            say(f"  {shape} batch {batch}: out of memory")
        else:
            last = (batch, row["median_s"])
            unet_flops = row.pop("_unet_flops")
            if shape == "sd15":
                bench.unet_flops[batch] = unet_flops
                bench.sd15_call_s[batch] = row["median_s"]
        rows.append(row)
    result: dict[str, Any] = {**info, "size": size, "steps": bench.steps, "batches": rows}
    if skipped:
        result["batches_skipped"] = skipped
    mfus = [r["mfu_call"] for r in rows if r.get("mfu_call") is not None]
    if mfus and shape == "sd15":
        result["best_mfu_call"] = max(mfus)
        result["mfu_goal"] = MFU_GOAL
        result["mfu_goal_met"] = max(mfus) >= MFU_GOAL
    if keep:
        bench.pipe = pipe
    else:
        del pipe
        bench.free()
    return result


def part_sd15(bench: Bench) -> dict[str, Any]:
    return throughput(bench, "sd15", bench.size, bench.batches, keep=True)


def part_sdxl(bench: Bench) -> dict[str, Any]:
    bench.pipe = None
    bench.free()
    return throughput(bench, "sdxl", bench.sdxl_size, bench.sdxl_batches, keep=False)
