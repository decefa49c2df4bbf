"""Real worker processes (`python -m fake_engine`): crashes and signals,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from fake_engine import SleepEngine
from fixtures_db import SettingsQueue, poll_until, write_config

from imaginebot.core.domain import JobSpec, JobStatus
from worker.loop import Worker

MODEL = "tiny"


async def running_under(q: SettingsQueue, ids: list[str], owner: str) -> bool:
    from sqlalchemy import select

    from db.models import Job

    async with q.database.read() as conn:
        rows = (await conn.execute(select(Job.status, Job.lease_owner).where(Job.id.in_(ids)))).all()
    return len(rows) == len(ids) and all(
        r.status == JobStatus.RUNNING and r.lease_owner == owner for r in rows
    )


async def exit_code(proc: subprocess.Popen[bytes], within: float = 30) -> int:
    return await asyncio.to_thread(proc.wait, within)


async def test_killed_worker_jobs_are_finished_once_by_another(
    db_url: str, tmp_path: Path, make_queue: Callable[..., SettingsQueue], spawn_worker
) -> None:
    sections = {"queue": {"lease_seconds": 1, "max_batch": 8}, "quota": {"max_running": 5}}
    q = make_queue(**sections)
    jobs = await q.admission.enqueue(1, [JobSpec("a"), JobSpec("b")], model=MODEL)
    ids = [j.id for j in jobs]
    victim = spawn_worker(
        write_config(tmp_path / "c.toml", db_url, **sections), seconds=120, worker_id="victim"
    )
    await poll_until(lambda: running_under(q, ids, "victim"), within=60, what="the victim to claim both jobs")
    victim.send_signal(signal.SIGKILL)
    assert await exit_code(victim) == -signal.SIGKILL

    engine = SleepEngine(MODEL)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(q.lifecycle, engine, q.settings.queue, "rescuer").run(stop))
    try:
        await poll_until(lambda: _done(q, ids), within=30, what="the rescuer to finish the jobs")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert sorted(i for batch in engine.calls for i in batch) == sorted(ids)  # each run once more, once
    for job_id in ids:
        job = await q.reads.get_job(job_id)
        assert job.status is JobStatus.SUCCEEDED and job.attempts == 2 and job.charged
        assert [i.index for i in await q.reads.get_images(job_id)] == [1, 2, 3, 4]
    info = await q.reads.quota_info(1)
    assert info.used_today == 2  # charged once each, never twice
    assert (await q.reads.stats()).images == 8


async def _done(q: SettingsQueue, ids: list[str]) -> bool:
    return all(s is JobStatus.SUCCEEDED for s in [(await q.reads.get_job(i)).status for i in ids])


async def test_sigterm_lets_a_short_batch_finish(
    db_url: str, tmp_path: Path, make_queue: Callable[..., SettingsQueue], spawn_worker
) -> None:
    sections = {"queue": {"lease_seconds": 10}}
    q = make_queue(**sections)
    [job] = await q.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    proc = spawn_worker(
        write_config(tmp_path / "c.toml", db_url, **sections), seconds=2, steps=20, worker_id="w"
    )
    await poll_until(lambda: running_under(q, [job.id], "w"), within=60, what="the worker to claim the job")
    proc.send_signal(signal.SIGTERM)
    assert await exit_code(proc) == 0
    assert (await q.reads.get_job(job.id)).status is JobStatus.SUCCEEDED


async def test_sigterm_hands_a_long_batch_back(
    db_url: str, tmp_path: Path, make_queue: Callable[..., SettingsQueue], spawn_worker
) -> None:
    sections = {"queue": {"lease_seconds": 1}}
    q = make_queue(**sections)
    [job] = await q.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    proc = spawn_worker(
        write_config(tmp_path / "c.toml", db_url, **sections), seconds=120, steps=1200, worker_id="w"
    )
    await poll_until(lambda: running_under(q, [job.id], "w"), within=60, what="the worker to claim the job")
    proc.send_signal(signal.SIGTERM)
    assert await exit_code(proc) == 0
    back = await q.reads.get_job(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 0


async def test_worker_refuses_an_outdated_schema(empty_db_url: str, tmp_path: Path, spawn_worker) -> None:
    proc = spawn_worker(write_config(tmp_path / "c.toml", empty_db_url))
    assert await exit_code(proc) == 2
    log = (tmp_path / "worker-0.log").read_text()
    assert log.strip() == "imaginebot: the database schema is out of date: run `imaginebot db upgrade`"
