"""Benchmark serving two models from one worker: the cost of a model switch, and throughput with the two
models' jobs submitted interleaved vs sorted.

    .venv/bin/python benchmarks/bench_models.py [--size 256] [--steps 10] [--jobs 8] [--repeats 3]

Two tiny models (seeds 0 and 1, diffusers folders in a temporary `gen.models_dir`) served by the real
worker loop (`imaginebot worker`'s engine pool, `gen.max_loaded_models = 1`) over a SQLite queue:

1. Switch: unloading the loaded model and loading the other one (`EnginePool.get`, from disk, warm-up
   included), next to one job's generation time at --size/--steps.
2. Throughput: --jobs jobs of each model (4 images each, every job from its own user), submitted
   sorted (all of a's, then all of b's) or interleaved (a, b, a, b, …); the time from the worker's start
   until every job has succeeded, best of --repeats each. The worker prefers its loaded model
   (`queue.model_switch_after` 30 s), so interleaved jobs should not cost a switch each.
   Goal: interleaved throughput ≥ 0.9× sorted.

Prints a JSON line with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench_queue import fresh_database, open_queue  # noqa: E402  (benchmarks/ is on sys.path as a script)

from imaginebot.core.config import Settings  # noqa: E402
from imaginebot.core.domain import JobSpec, JobStatus  # noqa: E402
from worker.loop import Worker  # noqa: E402

MODELS = ("a", "b")


def _settings(models_dir: Path, data_dir: Path, url: str = "sqlite+aiosqlite://") -> Settings:
    return Settings.model_validate(
        {
            "app": {"data_dir": str(data_dir)},
            "database": {"url": url},
            "gen": {"model": "a", "models_dir": str(models_dir), "max_loaded_models": 1},
            "quota": {"daily_jobs": 10**6, "max_queued": 10**6, "max_running": 100},
            "queue": {"max_batch": 8, "poll_interval": 0.01},
        }
    )


async def switch_cost(settings: Settings, args: argparse.Namespace) -> dict[str, float]:
    from imaginebot.app.engines import engine_pool
    from imaginebot.core.domain import GenRequest, JobKind

    pool = await engine_pool(settings)  # a is loaded
    try:
        switches = []
        for name in ("b", "a") * args.repeats:
            start = time.perf_counter()
            await pool.get(name)
            switches.append(time.perf_counter() - start)
        engine = await pool.get("a")
        spec = JobSpec("a red fox in snow", width=args.size, height=args.size, steps=args.steps)
        jobs = []
        for k in range(args.repeats):
            start = time.perf_counter()
            await engine.generate([GenRequest(f"j{k}", JobKind.IMAGINE, spec, seed=k)])
            jobs.append(time.perf_counter() - start)
    finally:
        await pool.aclose()
    return {"switch_s": round(min(switches), 3), "job_s": round(min(jobs), 3)}


async def throughput(settings: Settings, order: list[str], args: argparse.Namespace) -> float:
    from imaginebot.app.engines import engine_pool

    async with fresh_database("sqlite") as (url, _):
        settings = settings.model_copy(update={"database": settings.database.model_copy(update={"url": url})})
        queue = open_queue(settings)
        pool = await engine_pool(settings)  # a is loaded, as a worker that has been running
        try:
            spec = JobSpec("a lighthouse at dusk", width=args.size, height=args.size, steps=args.steps)
            ids = []
            for k, model in enumerate(order):
                ids += [j.id for j in await queue.admission.enqueue(1000 + k, [spec], model=model)]
            stop = asyncio.Event()
            start = time.perf_counter()
            task = asyncio.create_task(Worker(queue.lifecycle, pool, settings.queue, "bench").run(stop))
            while True:
                jobs = [await queue.reads.get_job(i) for i in ids]
                if all(j.status is JobStatus.SUCCEEDED for j in jobs):
                    break
                if any(j.status is JobStatus.FAILED for j in jobs):
                    raise RuntimeError("a job failed")
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - start
            stop.set()
            await task
            return elapsed
        finally:
            await pool.aclose()
            await queue.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from gen.tiny import make_tiny_model

    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        models = Path(tmp) / "models"
        for seed, name in enumerate(MODELS):
            make_tiny_model(models / name, seed=seed)
        settings = _settings(models, Path(tmp) / "data")
        result: dict[str, Any] = await switch_cost(settings, args)
        sorted_order = ["a"] * args.jobs + ["b"] * args.jobs
        interleaved = [m for _ in range(args.jobs) for m in MODELS]
        times: dict[str, list[float]] = {"sorted": [], "interleaved": []}
        runs = [("sorted", sorted_order), ("interleaved", interleaved)]
        for k in range(args.repeats):  # alternating which goes first
            for label, order in runs if k % 2 == 0 else runs[::-1]:
                times[label].append(await throughput(settings, order, args))
        best = {k: min(v) for k, v in times.items()}
        result.update(
            sorted_s=round(best["sorted"], 2),
            interleaved_s=round(best["interleaved"], 2),
            interleaved_vs_sorted_throughput=round(best["sorted"] / best["interleaved"], 3),
            size=args.size,
            steps=args.steps,
            jobs_per_model=args.jobs,
        )
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    print(json.dumps(asyncio.run(main_async(parser.parse_args()))))


if __name__ == "__main__":
    main()
