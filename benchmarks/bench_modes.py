"""Fast, Relax and Turbo jobs of 20 users mixed: the order of service and each mode's waiting time.

    .venv/bin/python benchmarks/bench_modes.py [--backend sqlite|postgresql|both] [--seconds-per-job S]

The real queue (a fresh migrated database, the real claim statement) under a simulated clock: 20 users
send 150 jobs over 10 minutes, more than one GPU serves (one job a claim, `--seconds-per-job` 8 s of
device time each: 75 an interval of 10 minutes), so a backlog builds and the modes decide who waits.

- 12 Fast users (1 job in 10 also Turbo), 4 Relax users, 4 heavy Turbo users (half Turbo, half Fast);
  arrivals are random (seeded), the same for every backend.
- A job's wait is the simulated time from its enqueue to its claim.
- Printed: per mode, jobs, median / p90 / max wait; the modes of the first 30 claims; how long the oldest
  Relax job waited when it was claimed while Fast work was still queued (the bound,
  queue.relax_max_wait = 600 s, after which it takes its turn among Fast jobs); and, within Fast, the
  spread of the users' median waits (fair share holds within a mode).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_queue import fresh_database

from db.policy import QueuePolicy
from db.queue import Queue
from imaginebot.core.config import DatabaseSettings, QueueSettings, QuotaSettings
from imaginebot.core.domain import GenResult, JobSpec

MODEL = "bench"
T0 = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
USERS = 20
JOBS = 150
ARRIVAL_WINDOW = 600.0  # seconds over which the jobs arrive
RELAX_MAX_WAIT = 600.0


def workload(seed: int = 7) -> list[tuple[float, int, str]]:
    """(arrival second, user, mode) of every job, in arrival order."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(JOBS):
        user = rng.randrange(USERS)
        if user < 12:
            mode = "turbo" if rng.random() < 0.1 else "fast"
        elif user < 16:
            mode = "relax"
        else:
            mode = "turbo" if rng.random() < 0.5 else "fast"
        jobs.append((rng.uniform(0, ARRIVAL_WINDOW), user, mode))
    return sorted(jobs)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=self.t)


@dataclass
class Outcome:
    waits: dict[str, list[float]]  # mode -> each job's wait
    order: str  # the modes of the first 30 claims (T, F, R)
    relax_bound: float | None  # longest wait of a Relax job claimed while Fast or Turbo work waited
    fast_user_medians: tuple[float, float]  # lowest and highest median wait of a Fast user
    makespan: float


async def simulate(url: str, seconds_per_job: float, one_mode: bool = False) -> Outcome:
    clock = Clock()
    policy = QueuePolicy.from_settings(
        QuotaSettings(daily_jobs=10**6, max_queued=10**6, max_running=1),
        QueueSettings(relax_max_wait=RELAX_MAX_WAIT),
    )
    q = Queue.open(DatabaseSettings(url=url), policy, clock=clock)
    arrivals = [(at, user, "fast") for at, user, _ in workload()] if one_mode else workload()
    created: dict[str, tuple[float, int, str]] = {}
    served: list[tuple[str, float]] = []  # (job id, claim second)
    relax_bound: list[float] = []  # waits of Relax jobs claimed while Fast work was queued
    try:
        i = 0
        while i < len(arrivals) or len(served) < len(created):
            if len(served) == len(created) and i < len(arrivals):
                clock.t = max(clock.t, arrivals[i][0])  # idle: the next arrival
            while i < len(arrivals) and arrivals[i][0] <= clock.t:
                at, user, mode = arrivals[i]
                saved, clock.t = clock.t, at
                [job] = await q.admission.enqueue(1000 + user, [JobSpec("p", mode=mode)], model=MODEL)
                clock.t = saved
                created[job.id] = (at, user, mode)
                i += 1
            done = {s for s, _ in served}
            waiting_fast = {jid for jid, (_, _, m) in created.items() if m != "relax"} - done
            jobs = await q.lifecycle.claim("w", model=MODEL, max_images=4)
            if not jobs:
                continue
            for claimed in jobs:
                served.append((claimed.id, clock.t))
                if created[claimed.id][2] == "relax" and waiting_fast - {claimed.id}:
                    relax_bound.append(clock.t - created[claimed.id][0])
            clock.t += seconds_per_job * len(jobs)
            await q.lifecycle.complete_many("w", [GenResult(j.id, [b"png"] * 4, 8, 8) for j in jobs])
    finally:
        await q.close()
    waits: dict[str, list[float]] = defaultdict(list)
    by_user: dict[int, list[float]] = defaultdict(list)
    for job_id, at in served:
        arrived, user, mode = created[job_id]
        waits[mode].append(at - arrived)
        if mode == "fast":
            by_user[user].append(at - arrived)
    user_medians = [statistics.median(w) for w in by_user.values()]
    return Outcome(
        waits=waits,
        order="".join(created[j][2][0].upper() for j, _ in served[:30]),
        relax_bound=max(relax_bound) if relax_bound else None,
        fast_user_medians=(min(user_medians), max(user_medians)),
        makespan=clock.t,
    )


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--seconds-per-job", type=float, default=8.0)
    a = ap.parse_args()
    for backend in ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]:
        async with fresh_database(backend) as (url, _):
            r = await simulate(url, a.seconds_per_job)
        async with fresh_database(backend) as (url, _):
            flat = await simulate(url, a.seconds_per_job, one_mode=True)
        print(f"\n## {backend}: {JOBS} jobs of {USERS} users, {a.seconds_per_job:g} s a job, "
              f"all served after {r.makespan:.0f} s")
        print("| mode | jobs | median wait | p90 wait | max wait |\n|---|---|---|---|---|")
        for mode in ("turbo", "fast", "relax"):
            if r.waits.get(mode):
                print(table_row(mode, r.waits[mode]))
        print(table_row("(the same jobs, all Fast)", flat.waits["fast"]))
        print(f"first 30 claims: {r.order}")
        if r.relax_bound is not None:
            print(f"longest wait of a Relax job claimed while Fast/Turbo work waited: {r.relax_bound:.0f} s, "
                  f"{max(0.0, r.relax_bound - RELAX_MAX_WAIT):.0f} s of it after queue.relax_max_wait "
                  f"({RELAX_MAX_WAIT:.0f} s) put it in the Fast rotation")
        lo, hi = r.fast_user_medians
        print(f"Fast users' median waits range from {lo:.0f} s to {hi:.0f} s")


def table_row(label: str, w: list[float]) -> str:
    return f"| {label} | {len(w)} | {statistics.median(w):.0f} s | {p90(w):.0f} s | {max(w):.0f} s |"


if __name__ == "__main__":
    asyncio.run(main())
