"""Scale-out: several real worker processes (`python -m fake_engine`) on one
database — every job exactly once, model filtering, LISTEN/NOTIFY wake-ups, a clean exit on SIGTERM.

The fake engine appends one JSON line per finished batch to an engine log shared by the processes
(FAKE_ENGINE_LOG), which is how a job generated twice would show up.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures_db import poll_until, write_config
from sqlalchemy import func, select

from db.models import Job, JobImage
from db.queue import Queue
from imaginebot.core.domain import JobSpec, JobStatus

MODEL = "tiny"
OTHER = "other-model"
ROOMY_QUOTA = {"daily_jobs": 1000, "max_queued": 100, "max_running": 10}

Spawn = Callable[..., subprocess.Popen[bytes]]


def engine_batches(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def worker_log_has(tmp_path: Path, n: int, text: str) -> bool:
    log = tmp_path / f"worker-{n}.log"
    return log.exists() and text in log.read_text(encoding="utf-8", errors="replace")


async def count_status(q: Queue, ids: list[str], status: JobStatus) -> int:
    async with q.database.read() as conn:
        stmt = select(func.count()).select_from(Job).where(Job.id.in_(ids), Job.status == status)
        return int((await conn.execute(stmt)).scalar_one())


async def all_in(q: Queue, ids: list[str], status: JobStatus) -> bool:
    return await count_status(q, ids, status) == len(ids)


async def terminate(procs: list[subprocess.Popen[bytes]], within: float = 30) -> list[int]:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    return [await asyncio.to_thread(p.wait, within) for p in procs]


async def test_three_workers_run_sixty_jobs_exactly_once(
    db_url: str, tmp_path: Path, make_queue: Callable[..., Queue], spawn_worker: Spawn
) -> None:
    sections = {"queue": {"max_batch": 8, "lease_seconds": 10}, "quota": ROOMY_QUOTA}
    q = make_queue(**sections)
    ids: list[str] = []
    for user in range(1, 7):
        jobs = await q.admission.enqueue(
            user, [JobSpec(f"user {user} job {k}") for k in range(10)], model=MODEL
        )
        ids += [j.id for j in jobs]
    assert len(ids) == 60
    await q.admin.pause(actor="test")  # held back until all three workers are up, so they all compete
    config = write_config(tmp_path / "c.toml", db_url, **sections)
    engine_log = tmp_path / "engine.jsonl"
    procs = [spawn_worker(config, seconds=0.2, worker_id=f"w{n}", engine_log=engine_log) for n in range(3)]
    for n in range(3):
        await poll_until(
            lambda n=n: worker_log_has(tmp_path, n, f"worker w{n} started"), within=60, what=f"worker w{n}"
        )
    await q.admin.resume(actor="test")
    await poll_until(lambda: all_in(q, ids, JobStatus.SUCCEEDED), within=60, what="all 60 jobs to succeed")
    assert await terminate(procs) == [0, 0, 0]

    batches = engine_batches(engine_log)
    generated = Counter(job_id for b in batches for job_id in b["jobs"])
    assert set(generated) == set(ids) and set(generated.values()) == {1}  # each job generated once
    assert all(len(b["jobs"]) <= 2 for b in batches)  # 4 images a job, 8 a batch
    assert len({b["pid"] for b in batches}) == 3  # all three workers took part
    async with q.database.read() as conn:
        attempts = Counter((await conn.execute(select(Job.attempts).where(Job.id.in_(ids)))).scalars())
        images = (
            await conn.execute(
                select(JobImage.job_id, func.count(), func.min(JobImage.index), func.max(JobImage.index))
                .where(JobImage.job_id.in_(ids))
                .group_by(JobImage.job_id)
            )
        ).all()
    assert attempts == {1: 60}  # claimed once each: a second claim would count a second attempt
    assert sorted(r[0] for r in images) == sorted(ids)
    assert {tuple(r[1:]) for r in images} == {(4, 1, 4)}  # images 1…4 of every job, each once
    assert (await q.reads.quota_info(1)).used_today == 10  # charged once per job


async def test_a_worker_claims_only_jobs_of_its_own_model(
    db_url: str, tmp_path: Path, make_queue: Callable[..., Queue], spawn_worker: Spawn
) -> None:
    q = make_queue(quota=ROOMY_QUOTA)
    mine = [
        j.id for j in await q.admission.enqueue(1, [JobSpec("tiny job")] * 4, model=MODEL)
    ]  # older: fairer
    theirs = [j.id for j in await q.admission.enqueue(2, [JobSpec("other job")] * 4, model=OTHER)]
    engine_log = tmp_path / "engine.jsonl"
    other = spawn_worker(
        write_config(tmp_path / "other.toml", db_url, quota=ROOMY_QUOTA, gen={"model": OTHER}),
        worker_id="other",
        engine_log=engine_log,
    )
    await poll_until(lambda: all_in(q, theirs, JobStatus.SUCCEEDED), within=60, what="the other model's jobs")
    await asyncio.sleep(1.0)  # the idle worker keeps claiming (poll 0.05 s, backing off to 1 s)
    assert await all_in(q, mine, JobStatus.QUEUED)
    assert [(await q.reads.get_job(i)).attempts for i in mine] == [0, 0, 0, 0]

    tiny = spawn_worker(
        write_config(tmp_path / "tiny.toml", db_url, quota=ROOMY_QUOTA),
        worker_id="tiny",
        engine_log=engine_log,
    )
    await poll_until(lambda: all_in(q, mine, JobStatus.SUCCEEDED), within=60, what="the tiny model's jobs")
    assert await terminate([other, tiny]) == [0, 0]
    by_model: dict[str, set[str]] = {}
    for b in engine_batches(engine_log):
        by_model.setdefault(b["model"], set()).update(b["jobs"])
    assert by_model == {OTHER: set(theirs), MODEL: set(mine)}


@pytest.mark.parametrize("db_backend", ["postgresql"])  # SQLite has no cross-process wake-up
async def test_listen_notify_wakes_an_idle_worker_process_at_once(
    db_url: str, tmp_path: Path, make_queue: Callable[..., Queue], spawn_worker: Spawn
) -> None:
    sections = {"queue": {"poll_interval": 10}}  # polling alone would take 10 s
    q = make_queue(**sections)
    proc = spawn_worker(write_config(tmp_path / "c.toml", db_url, **sections), worker_id="w")
    [first] = await q.admission.enqueue(1, [JobSpec("first")], model=MODEL)
    await poll_until(lambda: all_in(q, [first.id], JobStatus.SUCCEEDED), within=60, what="the first job")
    await asyncio.sleep(0.5)  # the worker found the queue empty again and waits (up to 10 s)
    waits = []
    for k in range(3):
        started = time.monotonic()
        [job] = await q.admission.enqueue(1, [JobSpec(f"job {k}")], model=MODEL)
        await poll_until(lambda j=job.id: all_in(q, [j], JobStatus.SUCCEEDED), within=9, what="the wake-up")
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.3)
    assert min(waits) < 1.0, f"enqueue → succeeded took {waits} s"  # not 10 s: NOTIFY woke it
    assert max(waits) < 3.0, f"enqueue → succeeded took {waits} s"

    stopping = time.monotonic()
    assert await terminate([proc]) == [0]  # an idle worker leaves at once, not after its 10 s poll
    assert time.monotonic() - stopping < 5
    assert await worker_log_has(tmp_path, 0, "worker w stopped after 4 batch(es)")
