"""GPU time a job: the share of its batch's engine time (imaginebot.core.gpu_time), stored by the worker,
shown by `imaginebot jobs --json` and /info; the worker parts on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import math
from types import SimpleNamespace
from typing import Any

import pytest
from fake_engine import SleepEngine
from fixtures_db import SettingsQueue, poll_until
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from bot.cogs.info import Info
from db.models import Job
from imaginebot.core.domain import Failure, GenRequest, GenResult, JobKind, JobSpec, JobStatus
from imaginebot.core.gpu_time import apportion, request_units, work_units
from worker.loop import Worker

MODEL = "tiny"
PROFILE = settings(max_examples=200, deadline=None)
UNITS = st.dictionaries(
    st.text(min_size=1, max_size=6), st.floats(0, 1e9, allow_nan=False, allow_infinity=False), max_size=8
)
SECONDS = st.floats(0, 1e5, allow_nan=False, allow_infinity=False)


# -- pure -------------------------------------------------------------------------------------------


def test_work_units_is_images_times_steps_times_pixels() -> None:
    assert work_units(4, 30, 512, 512) == 4 * 30 * 512 * 512
    assert work_units(0, 30, 512, 512) == 0.0
    assert work_units(1, 12.5, 2, 2) == 50.0


def test_request_units_count_the_steps_actually_run() -> None:
    spec = JobSpec("a", width=64, height=32, steps=40)
    assert request_units(GenRequest("j", JobKind.IMAGINE, spec, 1)) == 4 * 40 * 64 * 32
    stopped = JobSpec("a", width=64, height=32, steps=40, stop=50)  # --stop 50: 20 steps
    assert request_units(GenRequest("j", JobKind.IMAGINE, stopped, 1)) == 4 * 20 * 64 * 32
    variation = GenRequest("j", JobKind.VARIATION, spec, 1, b"png", strength=0.25)  # img2img: 10 steps
    assert request_units(variation) == 4 * 10 * 64 * 32


def test_apportion_edge_cases() -> None:
    assert apportion(3.0, {}) == {}
    assert apportion(3.0, {"a": 0.0, "b": 0.0, "c": 0.0}) == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert apportion(3.0, {"a": 1.0, "b": 2.0}) == pytest.approx({"a": 1.0, "b": 2.0})
    assert apportion(0.0, {"a": 1.0}) == {"a": 0.0}


@PROFILE
@given(SECONDS, UNITS)
@example(1.5, {"0": 5e-324})  # a subnormal unit: seconds × units underflowed before the division
def test_apportion_preserves_the_sum_and_is_non_negative(seconds: float, units: dict[str, float]) -> None:
    shares = apportion(seconds, units)
    assert set(shares) == set(units)
    assert all(s >= 0.0 for s in shares.values())
    if units:
        assert math.isclose(sum(shares.values()), seconds, rel_tol=1e-9, abs_tol=1e-9)


@PROFILE
@given(SECONDS, UNITS)
@example(0.5, {"0": 5e-324})
def test_apportion_is_proportional_to_the_units(seconds: float, units: dict[str, float]) -> None:
    shares = apportion(seconds, units)
    total = sum(units.values())
    if total <= 0.0:
        assert len(set(shares.values())) <= 1  # equal shares
        return
    for key, u in units.items():
        assert math.isclose(shares[key], seconds * (u / total), rel_tol=1e-9, abs_tol=1e-9)


# -- stored by the worker, shown by the CLI and /info -------------------------------------------------


async def _one_batch(q: SettingsQueue, seconds: float) -> tuple[Worker, list[str]]:
    """Two jobs of 64×64 and 128×64 generated in one batch of an engine taking `seconds`."""
    small = await q.admission.enqueue(1, [JobSpec("small", width=64, height=64)], model=MODEL)
    large = await q.admission.enqueue(1, [JobSpec("large", width=128, height=64)], model=MODEL)
    ids = [small[0].id, large[0].id]
    async with q.database.write() as conn:  # the claim batches equal keys: make them one batch
        key = (await conn.execute(Job.__table__.select().where(Job.id == ids[0]))).mappings().one()
        await conn.execute(update(Job).where(Job.id == ids[1]).values(batch_key=key["batch_key"]))
    engine = SleepEngine(MODEL, seconds=seconds, steps=4)
    worker = Worker(q.lifecycle, engine, q.settings.queue, "w1")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:

        async def done() -> bool:
            return [(await q.reads.get_job(i)).status for i in ids] == [JobStatus.SUCCEEDED] * 2

        await poll_until(done, what="both jobs to succeed")
    finally:
        stop.set()
        await task
    assert engine.calls == [ids]
    return worker, ids


async def test_a_batch_s_seconds_are_shared_by_the_jobs_work(make_queue: Any) -> None:
    q = make_queue(queue={"max_batch": 8}, quota={"max_running": 10})
    worker, [small, large] = await _one_batch(q, seconds=0.4)
    a = (await q.reads.get_job(small)).gpu_seconds
    b = (await q.reads.get_job(large)).gpu_seconds
    assert a is not None and b is not None
    assert worker.busy_seconds >= 0.4  # one batch: its seconds
    assert a + b == pytest.approx(worker.busy_seconds, rel=1e-9)
    assert b == pytest.approx(2 * a, rel=1e-9)


async def test_a_failed_job_has_no_gpu_seconds(queue: SettingsQueue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    await queue.lifecycle.fail(job.id, "w", Failure.OUT_OF_MEMORY, retry=False)
    assert (await queue.reads.get_job(job.id)).gpu_seconds is None


async def test_complete_without_gpu_seconds_leaves_null(queue: SettingsQueue) -> None:
    [a, b] = await queue.admission.enqueue(1, [JobSpec("a")] * 2, model=MODEL)
    await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    results = [GenResult(a.id, [b"png"] * 4, 8, 8, gpu_seconds=1.5), GenResult(b.id, [b"png"] * 4, 8, 8)]
    assert await queue.lifecycle.complete_many("w", results) == {a.id, b.id}
    assert (await queue.reads.get_job(a.id)).gpu_seconds == 1.5
    assert (await queue.reads.get_job(b.id)).gpu_seconds is None


async def test_jobs_json_and_info_show_gpu_seconds(cli: Any, queue: SettingsQueue) -> None:
    [a, b] = await queue.admission.enqueue(7, [JobSpec("a")] * 2, model=MODEL)
    [c] = await queue.admission.enqueue(8, [JobSpec("c")], model=MODEL)
    info = Info(SimpleNamespace(queue=queue))  # type: ignore[arg-type]
    assert "GPU time" not in await info._info_lines(7)
    await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    results = [GenResult(a.id, [b"png"] * 4, 8, 8, gpu_seconds=1.23456)]
    assert await queue.lifecycle.complete_many("w", results) == {a.id}
    code, out, _ = await cli("jobs", "--json")
    assert code == 0
    rows = {r["job_id"]: r for r in map(json.loads, out.splitlines())}
    assert rows[a.id]["gpu_seconds"] == 1.235
    assert rows[b.id]["gpu_seconds"] is None and rows[c.id]["gpu_seconds"] is None
    assert list(rows[a.id])[-2:] == ["gpu_seconds", "mode"] and rows[a.id]["mode"] == "fast"
    assert "**GPU time today:** 1.23 s" in (await info._info_lines(7)).splitlines()
    assert "GPU time" not in await info._info_lines(8)
