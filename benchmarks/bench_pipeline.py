"""The pipelined worker: the device's busy share with a queue backlog, pipelined vs one batch at a time.

    .venv/bin/python benchmarks/bench_pipeline.py [--part device|cpu|both] [--jobs 24] [--repeats 2]
        [--device-ms 60] [--size 512] [--backend sqlite|postgresql]

A backlog of --jobs jobs (4 images each, 8 images a batch) is queued, then the real worker loop
(worker.loop.Worker) serves it; wall time from the worker's start until every job has succeeded.
Device-busy share = the engine's generation time (`Worker.busy_seconds`) ÷ that wall time.

- device: a stand-in for a GPU. Its "device" works --device-ms per image outside the Python
  interpreter (a sleep on the generation thread, as a CUDA synchronisation waits), then hands back real
  pictures of --size (noise, so PNG encoding does real work). Compared: the worker before (PNG encoding
  on the generation thread and each batch stored before the next is claimed) and the pipelined worker
  (the engine leaves PNG encoding to the worker, which encodes and stores a batch while the next one
  generates). Goal: busy share ≥ 95 % pipelined.
- cpu: the tiny model on this CPU (--cpu-size, --cpu-steps), encoding on the generation thread vs
  left to the worker (`gen.pipelined_encoding` on/off): on a CPU both compete for the same cores, which
  decides the CPU default.
Runs alternate the variants; the best of --repeats each is reported. Prints a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in the worker (gen/__init__.py)

from bench_queue import fresh_database, open_queue  # noqa: E402  (benchmarks/ is on sys.path as a script)

from imaginebot.core.config import Settings  # noqa: E402
from imaginebot.core.domain import GenRequest, GenResult, JobSpec, JobStatus  # noqa: E402
from imaginebot.core.images import png_bytes  # noqa: E402
from worker.loop import Worker  # noqa: E402

MODEL = "bench"


class DeviceEngine:
    """A device that computes for `per_image` seconds a picture without holding the GIL."""

    model_id = MODEL

    def __init__(self, per_image: float, size: int, defer_png: bool) -> None:
        from PIL import Image

        self.per_image, self.defer_png = per_image, defer_png
        self.device_seconds = 0.0  # the device's own time, without the work done on its thread around it
        self.noise = [Image.effect_noise((size, size), 60 + 5 * k).convert("RGB") for k in range(8)]

    def _run(self, batch: list[GenRequest]) -> list[GenResult]:
        seconds = self.per_image * sum(r.image_count for r in batch)
        time.sleep(seconds)
        self.device_seconds += seconds
        results = []
        for n, r in enumerate(batch):
            pics = tuple(self.noise[(n * 4 + k) % len(self.noise)] for k in range(r.image_count))
            w, h = pics[0].size
            if self.defer_png:
                results.append(GenResult(r.job_id, [], w, h, pictures=pics))
            else:
                results.append(GenResult(r.job_id, [png_bytes(p) for p in pics], w, h))
        return results

    async def generate(self, batch: list[GenRequest], progress: Any = None, is_cancelled: Any = None) -> Any:
        return await asyncio.to_thread(self._run, batch)


def _settings(url: str, data_dir: Path, model: str, pipelined: str) -> Settings:
    return Settings.model_validate(
        {
            "app": {"data_dir": str(data_dir)},
            "database": {"url": url},
            "gen": {"model": model, "pipelined_encoding": pipelined, "preview_interval": 60},
            "quota": {"daily_jobs": 10**6, "max_queued": 10**6, "max_running": 100},
            "queue": {"max_batch": 8, "poll_interval": 0.01},
        }
    )


async def serve_backlog(
    backend: str, engine: Any, settings: Settings, spec: JobSpec, jobs: int, pipelined: bool
) -> dict:
    """Queue `jobs` jobs, then time the worker over the backlog; wall seconds and busy share."""
    async with fresh_database(backend) as (url, _):  # replaces the settings' database URL
        settings = settings.model_copy(update={"database": settings.database.model_copy(update={"url": url})})
        queue = open_queue(settings)
        try:
            ids = []
            for k in range(jobs):
                ids += [j.id for j in await queue.admission.enqueue(1000 + k, [spec], model=MODEL)]
            if hasattr(engine, "device_seconds"):
                engine.device_seconds = 0.0
            worker = Worker(queue.lifecycle, engine, settings.queue, "bench", pipelined=pipelined)
            stop = asyncio.Event()
            start = time.perf_counter()
            task = asyncio.create_task(worker.run(stop))
            waiting = list(ids)
            while waiting:  # one read per poll: the first job not yet seen done
                job = await queue.reads.get_job(waiting[0])
                if job.status is JobStatus.SUCCEEDED:
                    waiting.pop(0)
                    continue
                if job.status is JobStatus.FAILED or task.done():
                    raise RuntimeError("a job failed or the worker stopped")
                await asyncio.sleep(0.02)
            wall = time.perf_counter() - start
            stop.set()
            await task
            device = getattr(engine, "device_seconds", None)
            return {"wall": wall, "busy": (worker.busy_seconds if device is None else device) / wall}
        finally:
            await queue.close()


async def part(label: str, variants: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Run each variant `repeats` times, alternating; best wall time and its busy share per variant."""
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    names = list(variants)
    for k in range(repeats):
        for name in names if k % 2 == 0 else names[::-1]:
            result = await variants[name]()
            runs[name].append(result)
            print(
                f"{label} {name}: {result['wall']:.2f} s, device busy {100 * result['busy']:.1f} %",
                flush=True,
            )
    best = {name: min(r, key=lambda x: x["wall"]) for name, r in runs.items()}
    return {
        name: {"wall_s": round(b["wall"], 2), "busy_pct": round(100 * b["busy"], 1)}
        for name, b in best.items()
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"jobs": args.jobs}
    backend = "sqlite+aiosqlite://"  # each run gets a fresh database of args.backend instead
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        data = Path(tmp)
        if args.part in ("device", "both"):
            spec = JobSpec("a lighthouse at dusk", width=args.size, height=args.size, steps=30)
            settings = _settings(backend, data, MODEL, "auto")
            per_image = args.device_ms / 1000

            variants = {
                "before": partial(
                    serve_backlog,
                    args.backend,
                    DeviceEngine(per_image, args.size, False),
                    settings,
                    spec,
                    args.jobs,
                    False,
                ),
                "pipelined": partial(
                    serve_backlog,
                    args.backend,
                    DeviceEngine(per_image, args.size, True),
                    settings,
                    spec,
                    args.jobs,
                    True,
                ),
            }
            out["device"] = await part("device", variants, args.repeats)
            out["device"].update(device_ms_per_image=args.device_ms, size=args.size)
        if args.part in ("cpu", "both"):
            from gen.runner import load_engine
            from gen.tiny import make_tiny_model

            model = data / "tiny"
            make_tiny_model(model)
            spec = JobSpec(
                "a lighthouse at dusk", width=args.cpu_size, height=args.cpu_size, steps=args.cpu_steps
            )
            variants = {}
            for label, setting in (("encode on generation thread", "off"), ("encode in worker", "on")):
                settings = _settings(backend, data, str(model), setting)
                engine = await asyncio.to_thread(load_engine, settings.gen, data, model_id=MODEL)
                variants[label] = partial(
                    serve_backlog, args.backend, engine, settings, spec, args.cpu_jobs, True
                )
            out["cpu"] = await part("cpu", variants, args.repeats)
            out["cpu"].update(size=args.cpu_size, steps=args.cpu_steps, jobs=args.cpu_jobs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["device", "cpu", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device-ms", type=float, default=60.0, help="device time per image (ms)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--cpu-size", type=int, default=256)
    parser.add_argument("--cpu-steps", type=int, default=10)
    parser.add_argument("--cpu-jobs", type=int, default=8)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
