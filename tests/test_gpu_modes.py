"""Fast, Relax and Turbo modes and Fast GPU time quotas on the real queue (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures_db import SettingsQueue

from bot import messages, mode_messages
from db.errors import FastTimeUsedUp, RelaxDisabled
from imaginebot.app.cli import main
from imaginebot.core.domain import GenResult, JobSpec
from imaginebot.core.gpu_time import DEFAULT_SECONDS_PER_UNIT, work_units

MODEL = "tiny"
GRID_UNITS = work_units(4, 30, 512, 512)  # JobSpec("…"): a 512² grid of 4 images, 30 steps
GRID_GUESS = GRID_UNITS * DEFAULT_SECONDS_PER_UNIT  # its reservation before the model has measured jobs
T0 = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


class Clock:
    """A test clock that moves on a millisecond each time it is read, so that requests and claims made one
    after the other are ordered in time, as they are in life."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def enqueue(q: SettingsQueue, user: int, mode: str = "fast", n: int = 1) -> list[str]:
    jobs = await q.admission.enqueue(user, [JobSpec("p", mode=mode)] * n, model=MODEL)
    return [j.id for j in jobs]


async def claim_order(q: SettingsQueue) -> list[str]:
    """Claim one job at a time (4 images each) and finish it, until nothing is left."""
    order: list[str] = []
    while jobs := await q.lifecycle.claim("w", model=MODEL, max_images=4):
        order += [j.id for j in jobs]
        await q.lifecycle.complete_many("w", [GenResult(j.id, [b"png"] * 4, 8, 8) for j in jobs])
    return order


async def test_turbo_goes_first_then_fast_then_relax(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"max_queued": 50})
    relax = await enqueue(q, 1, "relax", n=2)
    fast = await enqueue(q, 2, "fast", n=2)
    turbo = await enqueue(q, 3, "turbo", n=2)
    assert [(await q.reads.get_job(i)).position for i in turbo + fast + relax] == [1, 2, 3, 4, 5, 6]
    assert await claim_order(q) == turbo + fast + relax


async def test_fair_share_holds_within_each_mode(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"max_queued": 50})
    a_fast = await enqueue(q, 1, "fast", n=3)
    b_fast = await enqueue(q, 2, "fast", n=1)
    a_relax = await enqueue(q, 1, "relax", n=2)
    c_relax = await enqueue(q, 3, "relax", n=2)
    a_turbo = await enqueue(q, 1, "turbo")  # queued last, served first
    order = await claim_order(q)
    assert order[0] == a_turbo[0]
    # Fast: user 2's first job comes before user 1's second (user 1 was served by its Turbo job).
    assert order[1:5] == [b_fast[0], a_fast[0], a_fast[1], a_fast[2]]
    # Relax: round robin between users 1 and 3.
    assert order[5:] == [c_relax[0], a_relax[0], c_relax[1], a_relax[1]]


async def test_a_batch_never_mixes_modes(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"max_queued": 50})
    fast = await enqueue(q, 1, "fast")
    await enqueue(q, 2, "relax")
    jobs = await q.lifecycle.claim("w", model=MODEL, max_images=8)  # room for both: same batch key
    assert [j.id for j in jobs] == fast


async def test_relax_waits_at_most_relax_max_wait(make_queue: Callable[..., SettingsQueue]) -> None:
    clock = Clock()
    q = make_queue(clock=clock, quota={"max_queued": 50, "max_running": 50}, queue={"relax_max_wait": 600})
    [relax] = await enqueue(q, 1, "relax")
    served: list[str] = []
    # A steady stream of Fast work from other users: one new job a minute, one claimed a minute.
    for minute in range(12):
        await enqueue(q, 100 + minute, "fast")
        clock.advance(60)
        [job] = await q.lifecycle.claim("w", model=MODEL, max_images=4)
        served.append(job.id)
        await q.lifecycle.complete_many("w", [GenResult(job.id, [b"png"] * 4, 8, 8)])
        if job.id == relax:
            break
    # Fast work kept it waiting for 600 s, then it took its turn (its user never served: first of tier).
    assert relax in served
    waited = served.index(relax) + 1  # minutes
    assert waited == 10, served
    assert len(served) == 10


async def test_relax_runs_at_once_on_an_idle_queue(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock())
    [relax] = await enqueue(q, 1, "relax")
    assert (await q.reads.get_job(relax)).position == 1
    assert [j.id for j in await q.lifecycle.claim("w", model=MODEL, max_images=4)] == [relax]


async def test_used_up_fast_time_sends_jobs_to_relax(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"fast_gpu_minutes": 1, "max_queued": 50})
    fit = math.floor(60 / GRID_GUESS)
    jobs = await q.admission.enqueue(1, [JobSpec("p")] * fit, model=MODEL)
    assert {j.mode for j in jobs} == {"fast"}
    info = await q.reads.quota_info(1)
    assert info.fast_used_seconds == pytest.approx(fit * GRID_GUESS)
    [moved] = await q.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    assert moved.mode == "relax" and moved.spec.mode == "fast"
    assert "Fast time for today is used up" in mode_messages.queued_note(moved)
    assert (await q.reads.quota_info(1)).fast_used_seconds == pytest.approx(fit * GRID_GUESS)  # Relax is free
    # Someone else's Fast time is their own.
    [other] = await q.admission.enqueue(2, [JobSpec("p")], model=MODEL)
    assert other.mode == "fast"


async def test_without_relax_used_up_fast_time_is_refused(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"fast_gpu_minutes": 0.1, "relax_enabled": False})
    await q.admission.enqueue(1, [JobSpec("p")], model=MODEL)  # 5 s of 6
    with pytest.raises(FastTimeUsedUp) as err:
        await q.admission.enqueue(1, [JobSpec("p")], model=MODEL)
    assert err.value.limit == pytest.approx(6.0) and err.value.used == pytest.approx(GRID_GUESS)
    assert "Relax mode is off" in messages.refusal(err.value)
    assert len(await q.reads.user_jobs(1)) == 1  # nothing more was queued
    with pytest.raises(RelaxDisabled):
        await q.admission.enqueue(2, [JobSpec("p", mode="relax")], model=MODEL)
    assert await q.reads.user_jobs(2) == []


async def test_turbo_costs_the_turbo_factor(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"turbo_factor": 3})
    [turbo] = await enqueue(q, 1, "turbo")
    [fast] = await enqueue(q, 1, "fast")
    [relax] = await enqueue(q, 1, "relax")
    jobs = await q.lifecycle.claim("w", model=MODEL, max_images=4)
    assert [j.id for j in jobs] == [turbo]
    await q.lifecycle.complete_many("w", [GenResult(turbo, [b"png"] * 4, 8, 8, gpu_seconds=10.0)])
    for job_id in (fast, relax):
        await q.lifecycle.claim("w", model=MODEL, max_images=4)
        await q.lifecycle.complete_many("w", [GenResult(job_id, [b"png"] * 4, 8, 8, gpu_seconds=4.0)])
    info = await q.reads.quota_info(1)
    assert info.fast_used_seconds == pytest.approx(3 * 10.0 + 4.0)  # Relax's 4 s are free


async def test_a_refund_returns_the_fast_time(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"fast_gpu_minutes": 1})
    [job] = await enqueue(q, 1, "turbo")
    assert (await q.reads.quota_info(1)).fast_used_seconds == pytest.approx(2 * GRID_GUESS)
    await q.admin.cancel(job, user_id=1)
    assert (await q.reads.quota_info(1)).fast_used_seconds == 0.0


async def test_reservations_use_the_models_measured_rate(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(clock=Clock(), quota={"fast_gpu_minutes": 10})
    [first] = await enqueue(q, 1)
    await q.lifecycle.claim("w", model=MODEL, max_images=4)
    await q.lifecycle.complete_many("w", [GenResult(first, [b"png"] * 4, 8, 8, gpu_seconds=30.0)])
    [second] = await enqueue(q, 1)  # the same work: reserves the 30 s measured, not the guess
    info = await q.reads.quota_info(1)
    assert info.fast_used_seconds == pytest.approx(60.0)
    assert (await q.reads.get_job(second)).mode == "fast"


async def test_racing_enqueues_reserve_exactly_the_fast_time_left(
    make_queue: Callable[..., SettingsQueue],
) -> None:
    settings: dict[str, Any] = {"quota": {"fast_gpu_minutes": 1, "max_queued": 100, "daily_jobs": 100}}
    queues = [make_queue(clock=Clock(), **settings) for _ in range(4)]  # separate engines and connections
    fit = math.floor(60 / GRID_GUESS)

    async def attempt(i: int) -> str:
        [job] = await queues[i % len(queues)].admission.enqueue(5, [JobSpec("p")], model=MODEL)
        return job.mode

    modes = await asyncio.gather(*(attempt(i) for i in range(3 * fit)))
    assert modes.count("fast") == fit and modes.count("relax") == 2 * fit
    assert (await queues[0].reads.quota_info(5)).fast_used_seconds <= 60.0


async def test_quota_set_gpu_minutes(cli: Any, queue: SettingsQueue) -> None:
    code, out, _ = await cli("admin", "quota", "set", "42", "--gpu-minutes", "2.5")
    assert code == 0 and "Fast GPU minutes 2.5 a day" in out
    await enqueue(queue, 42, "turbo")
    code, out, _ = await cli("admin", "quota", "show", "42", "--json")
    line = json.loads(out)
    assert line["fast_gpu_minutes"] == 2.5
    assert line["fast_minutes_used_today"] == pytest.approx(round(2 * GRID_GUESS / 60, 3))
    assert line["daily_limit"] == 25  # unchanged
    code, _, err = await cli("admin", "quota", "set", "42")
    assert code == 2 and "give N (jobs per day), --gpu-minutes M, or both" in err
    code, _, err = await cli("admin", "quota", "set", "42", "--gpu-minutes", "3", "--guild", "5")
    assert code == 2 and "leave out --guild" in err
    assert (await queue.reads.quota_info(42)).fast_limit_seconds == 150.0  # nothing changed
    assert (await cli("admin", "quota", "reset", "42"))[0] == 0
    assert (await queue.reads.quota_info(42)).fast_limit_seconds == 0.0  # back to quota.fast_gpu_minutes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", "-1 is out of range: use 0 to 1440"),
        ("nan", "nan is out of range"),
        ("lots", "'lots' is not a number"),
    ],
)
def test_a_bad_gpu_quota_is_one_clear_line(
    value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["admin", "quota", "set", "42", "--gpu-minutes", value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument --gpu-minutes: {expected}" in err and "Traceback" not in err
