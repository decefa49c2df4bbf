"""One denoising step of SD 1.5's and SDXL's real UNet shapes on this machine: time per image and the gain
of larger batches, at a small size.

    .venv/bin/python benchmarks/bench_shapes.py [--shape sd15|sdxl] [--size 128] [--batches 1,2,4]
        [--repeats 2]

The UNet of `gen.shapes` (random weights, the published sizes) in float32, called as a pipeline calls it
with classifier-free guidance (2 × images in the UNet's batch), with random text conditioning of the real
widths (and SDXL's pooled embedding and size ids). The cost of a step does not depend on the weights'
values. Prints one line per batch size and a JSON line: seconds per step, per image-step, the gain per
image over batch 1, parameter count and resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch


def _inputs(shape: str, images: int, size: int) -> dict[str, Any]:
    batch = 2 * images  # with guidance: unconditional + conditional
    latent = size // 8
    width = 768 if shape == "sd15" else 2048
    kw: dict[str, Any] = {
        "sample": torch.randn(batch, 4, latent, latent),
        "timestep": torch.tensor(500),
        "encoder_hidden_states": torch.randn(batch, 77, width),
    }
    if shape == "sdxl":
        ids = torch.tensor([size, size, 0, 0, size, size], dtype=torch.float32)
        kw["added_cond_kwargs"] = {"text_embeds": torch.randn(batch, 1280), "time_ids": ids.repeat(batch, 1)}
    return kw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=["sd15", "sdxl"], default="sd15")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batches", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from gen.shapes import shaped_unet

    torch.manual_seed(0)
    started = time.perf_counter()
    unet = shaped_unet(args.shape).eval()
    built = time.perf_counter() - started
    params = sum(p.numel() for p in unet.parameters())
    rows = []
    with torch.no_grad():
        unet(**_inputs(args.shape, 1, args.size))  # warm-up
        for images in (int(b) for b in args.batches.split(",")):
            kw = _inputs(args.shape, images, args.size)
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                unet(**kw)
                times.append(time.perf_counter() - t)
            best = min(times)
            rows.append({"images": images, "step_s": round(best, 3), "per_image_s": round(best / images, 3)})
            print(
                f"{args.shape} {args.size}² {images} image(s): {best:.2f} s a step, "
                f"{best / images:.3f} s an image-step",
                flush=True,
            )
    for row in rows:
        row["gain_over_1"] = round(rows[0]["per_image_s"] / row["per_image_s"], 3)
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        json.dumps(
            {
                "shape": args.shape,
                "size": args.size,
                "unet_parameters": params,
                "build_s": round(built, 1),
                "peak_rss_gib": round(rss_gib, 2),
                "threads": torch.get_num_threads(),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
