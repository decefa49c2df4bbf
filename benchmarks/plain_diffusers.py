"""The baseline of bench_multijob.py: a plain diffusers loop over JOBS jobs of four images, saving PNGs.

    python benchmarks/plain_diffusers.py MODEL OUT [--jobs 4] [--size 512] [--steps 30]

What a user without the bot would write: load the pipeline once, one call per job
(`num_images_per_prompt=4`, one generator per image), `image.save()` each picture. Prints a JSON line
with the load and generation times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--prompt", default="a red fox in snow")
    args = parser.parse_args()

    import torch
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(args.model, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    loaded = time.perf_counter()
    out = Path(args.out)
    for job in range(args.jobs):
        seed = 1000 + 10 * job
        generators = [torch.Generator("cpu").manual_seed(seed + k) for k in range(4)]
        images = pipe(
            args.prompt,
            num_images_per_prompt=4,
            generator=generators,
            width=args.size,
            height=args.size,
            num_inference_steps=args.steps,
        ).images
        folder = out / f"job{job}"
        folder.mkdir(parents=True, exist_ok=True)
        for k, image in enumerate(images, start=1):
            image.save(folder / f"{k}.png")
    done = time.perf_counter()
    print(json.dumps({"load": loaded - started, "generate": done - loaded}), flush=True)
    sys.stdout.flush()
    os._exit(0)  # as the imaginebot CLI does after loading torch: no module-by-module teardown


if __name__ == "__main__":
    raise SystemExit(main())
