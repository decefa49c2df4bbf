"""Queue throughput and claim latency, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_queue.py [--backend sqlite|postgresql|both] [--jobs N] [--repeat R]

Every measurement starts from a fresh, migrated database and uses a no-op engine (8×8 "images"), so it
measures the queue alone. Each is repeated R times; the median is printed (min–max in brackets).

- enqueue: N single-job requests (as /imagine sends them: one user, one request each, 200 users),
  `--producers` of them in flight at once.
- claim+complete: a pre-filled queue of N jobs drained by one loop that claims up to `--batch-images`
  images (64 jobs) and completes each batch in one transaction (`complete_many`).
- end to end: both at once — the producers enqueue while the claim/complete loop drains.
- worker loop: the same, through `worker.loop.Worker` (queue.max_batch = 64 images = 16 jobs a
  claim, leases, heartbeats, progress), i.e. what a real worker process adds.
- PostgreSQL only: 4 worker processes claim (2 jobs a claim, as with queue.max_batch = 8) and complete
  from a pre-filled queue (2000 jobs of 500 users, VACUUM ANALYZE'd as autovacuum would); claim latency
  percentiles, and a check that no job was claimed twice.

PostgreSQL is reached over the local unix socket as the current user (the test fixtures set that up);
each measurement creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from db import migrate
from db.models import Job
from db.policy import QueuePolicy
from db.queue import Queue
from imaginebot.core.config import DatabaseSettings, QueueSettings, QuotaSettings, Settings
from imaginebot.core.domain import GenProgress, GenRequest, GenResult, JobSpec, JobStatus
from worker.loop import Worker

PG_HOST = "/var/run/postgresql"
MODEL = "bench"
PNG = b"\x89PNG-bench"
REPO_ROOT = Path(__file__).resolve().parents[1]
USERS = 200


def queue_options(max_batch: int = 64) -> QueueSettings:
    return QueueSettings(max_batch=max_batch, lease_seconds=60, poll_interval=0.01)


def settings_for(url: str, max_batch: int = 64) -> Settings:
    return Settings(
        database=DatabaseSettings(url=url),
        quota=QuotaSettings(daily_jobs=10**9, max_queued=10**9, max_running=3),
        queue=queue_options(max_batch),
    )


def open_queue(settings: Settings) -> Queue:
    """The queue `imaginebot` opens for `settings`: its database, under its quota and queue policy."""
    return Queue.open(settings.database, QueuePolicy.from_settings(settings.quota, settings.queue))


class NoopEngine:
    model_id = MODEL

    async def generate(
        self, batch: list[GenRequest], progress: Any = None, is_cancelled: Any = None
    ) -> list[GenResult]:
        if progress is not None:
            progress(GenProgress(tuple(r.job_id for r in batch), 1, 1))
        return [GenResult(r.job_id, [PNG] * r.image_count, 8, 8) for r in batch]


async def enqueue_all(q: Queue, n: int, producers: int, users: int = USERS) -> None:
    spec = JobSpec("bench")
    counter = iter(range(n))

    async def produce() -> None:
        for i in counter:
            await q.admission.enqueue(1 + i % users, [spec], model=MODEL)

    await asyncio.gather(*(produce() for _ in range(producers)))


async def drain(q: Queue, n: int, batch_images: int, worker_id: str = "bench") -> list[str]:
    """Claim and complete until `n` jobs are done; returns the ids claimed."""
    claimed: list[str] = []
    idle = 0.001
    while len(claimed) < n:
        jobs = await q.lifecycle.claim(worker_id, model=MODEL, max_images=batch_images)
        if not jobs:  # the producers are behind (end to end): look again shortly
            await asyncio.sleep(idle)
            continue
        claimed += [j.id for j in jobs]
        await q.lifecycle.complete_many(
            worker_id, [GenResult(j.id, [PNG] * j.image_count, 8, 8) for j in jobs]
        )
    return claimed


async def succeeded(q: Queue) -> int:
    async with q.database.read() as conn:
        stmt = select(func.count()).select_from(Job).where(Job.status == JobStatus.SUCCEEDED)
        return int((await conn.execute(stmt)).scalar_one())


# --------------------------------------------------------------------------------------------- measurements


async def m_enqueue(q: Queue, a: argparse.Namespace) -> float:
    t = time.perf_counter()
    await enqueue_all(q, a.jobs, a.producers)
    return a.jobs / (time.perf_counter() - t)


async def m_claim_complete(q: Queue, a: argparse.Namespace) -> float:
    await enqueue_all(q, a.jobs, a.producers)
    t = time.perf_counter()
    await drain(q, a.jobs, a.batch_images)
    return a.jobs / (time.perf_counter() - t)


async def m_end_to_end(q: Queue, a: argparse.Namespace) -> float:
    t = time.perf_counter()
    await asyncio.gather(enqueue_all(q, a.jobs, a.producers), drain(q, a.jobs, a.batch_images))
    return a.jobs / (time.perf_counter() - t)


async def m_worker_loop(q: Queue, a: argparse.Namespace) -> float:
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(q.lifecycle, NoopEngine(), queue_options(), "bench").run(stop))
    t = time.perf_counter()
    await enqueue_all(q, a.jobs, a.producers)
    while await succeeded(q) < a.jobs:  # noqa: ASYNC110 - the results land in the database
        await asyncio.sleep(0.02)
    rate = a.jobs / (time.perf_counter() - t)
    stop.set()
    await task
    return rate


# --------------------------------------------------------------------------------------------- databases


async def pg_exec(sql: str, database: str = "postgres") -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, user=getpass.getuser(), database=database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[tuple[str, str]]:
    """(url, database name) of a new migrated database, dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            await migrate.upgrade(url)
            yield url, ""
        return
    name = f"imaginebot_bench_{uuid.uuid4().hex[:8]}"
    await pg_exec(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+asyncpg://{getpass.getuser()}@/{name}?host={PG_HOST}"
        await migrate.upgrade(url)
        yield url, name
    finally:
        await pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(
    backend: str, what: Callable[[Queue, argparse.Namespace], Awaitable[float]], a: argparse.Namespace
) -> float:
    async with fresh_database(backend) as (url, _):
        q = open_queue(settings_for(url))
        try:
            return await what(q, a)
        finally:
            await q.close()


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} [{min(values):.0f}–{max(values):.0f}]"


# --------------------------------------------------------------------------------------------- concurrency


async def child(url: str, worker_id: str) -> None:
    """One claiming process: claim (2 jobs) + complete until the queue is empty; print ids and latencies."""
    q = open_queue(settings_for(url, 8))
    claimed: list[str] = []
    latencies: list[float] = []
    empty = 0
    while empty < 3:
        t = time.perf_counter()
        jobs = await q.lifecycle.claim(worker_id, model=MODEL, max_images=8)
        latencies.append(time.perf_counter() - t)
        if not jobs:
            empty += 1
            continue
        empty = 0
        claimed += [j.id for j in jobs]
        await q.lifecycle.complete_many(
            worker_id, [GenResult(j.id, [PNG] * j.image_count, 8, 8) for j in jobs]
        )
    await q.close()
    print(json.dumps({"claimed": claimed, "latencies": latencies}))


async def concurrent_claims(n: int, processes: int) -> dict[str, Any]:
    async with fresh_database("postgresql") as (url, name):
        q = open_queue(settings_for(url, 8))
        await enqueue_all(q, n, 32, users=500)
        await q.close()
        await pg_exec("VACUUM ANALYZE", name)
        t = time.perf_counter()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--child",
                url,
                f"w{i}",
                stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            )
            for i in range(processes)
        ]
        outputs = [json.loads((await p.communicate())[0]) for p in procs]
        elapsed = time.perf_counter() - t
    ids = [i for o in outputs for i in o["claimed"]]
    lat = sorted(x for o in outputs for x in o["latencies"])

    def pct(p: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1)

    return {
        "processes": processes,
        "jobs": n,
        "claimed": len(ids),
        "double_claims": len(ids) - len(set(ids)),
        "claims": len(lat),
        "jobs_s_incl_process_start": round(n / elapsed),
        "claim_ms_p50": pct(0.50),
        "claim_ms_p95": pct(0.95),
        "claim_ms_p99": pct(0.99),
    }


# --------------------------------------------------------------------------------------------- main

MEASUREMENTS: dict[str, Callable[[Queue, argparse.Namespace], Awaitable[float]]] = {
    "enqueue": m_enqueue,
    "claim+complete": m_claim_complete,
    "end to end": m_end_to_end,
    "worker loop": m_worker_loop,
}


async def run_backend(backend: str, a: argparse.Namespace) -> None:
    for name, what in MEASUREMENTS.items():
        values = [await measure(backend, what, a) for _ in range(a.repeat)]
        print(f"{backend:10}  {name:15} jobs/s  {summary(values)}")
    if backend == "postgresql":
        print(f"{backend:10}  4 processes     {json.dumps(await concurrent_claims(a.concurrent_jobs, 4))}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-images", type=int, default=256, help="images a claim (4 a job)")
    parser.add_argument("--producers", type=int, default=32, help="enqueue requests in flight at once")
    parser.add_argument("--concurrent-jobs", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("URL", "WORKER_ID"), help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        asyncio.run(child(*a.child))
        return
    load = os.getloadavg()[0]
    print(
        f"# bench_queue: {os.cpu_count()} CPU cores, load average {load:.1f} at start, "
        f"python {sys.version.split()[0]}, {a.jobs} jobs, median of {a.repeat} [min–max]"
    )
    for backend in ("sqlite", "postgresql") if a.backend == "both" else (a.backend,):
        asyncio.run(run_backend(backend, a))


if __name__ == "__main__":
    main()
