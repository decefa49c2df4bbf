"""A worker serving several models: the LRU of loaded engines, which model it claims next, a model that
cannot be loaded, and what it announces (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_engine import SleepEngine
from fixtures_db import SettingsQueue, poll_until

from bot import messages
from imaginebot.app import engines as app_engines
from imaginebot.core.catalogue import Catalogue
from imaginebot.core.config import ConfigError, Settings
from imaginebot.core.domain import AsyncEngine, Failure, JobSpec, JobStatus
from worker import pool as pool_module
from worker.loop import Worker
from worker.pool import EnginePool, ModelUnavailable, claim_order

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- which model next ------------------------------------------------------------------------------


def test_a_loaded_model_goes_before_older_jobs_of_another_until_they_are_overdue() -> None:
    waiting = {"a": at(10), "b": at(0)}
    assert claim_order(waiting, ["a"], {}, at(20), 30) == ["a", "b"]  # b waited 20 s < 30 s
    assert claim_order(waiting, ["a"], {}, at(31), 30) == ["b", "a"]  # b waited 31 s: switch


def test_overdue_counts_from_when_the_model_was_last_served_here() -> None:
    waiting = {"a": at(0), "b": at(0)}
    # Both have a backlog older than 30 s; b was served 10 s ago, so the loaded a is not overtaken.
    assert claim_order(waiting, ["a"], {"b": at(50)}, at(60), 30) == ["a", "b"]
    assert claim_order(waiting, ["a"], {"b": at(50)}, at(81), 30) == ["b", "a"]


def test_without_loaded_models_the_oldest_waiting_goes_first() -> None:
    waiting = {"a": at(5), "b": at(1), "c": at(3)}
    assert claim_order(waiting, [], {}, at(6), 30) == ["b", "c", "a"]
    assert claim_order(waiting, ["a", "c"], {}, at(6), 30) == ["c", "a", "b"]
    assert claim_order({}, ["a"], {}, at(6), 30) == []


# --- the pool --------------------------------------------------------------------------------------


class Loads:
    """A loader of SleepEngines that records what it loaded; names in `broken` fail to load."""

    def __init__(self, broken: tuple[str, ...] = (), seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.loaded: list[str] = []
        self.closed: list[str] = []
        self.broken = broken
        self.engines: dict[str, list[SleepEngine]] = {}

    async def __call__(self, name: str) -> AsyncEngine:
        if name in self.broken:
            raise ValueError(f"{name}.safetensors: not a checkpoint\nsecond line")
        self.loaded.append(name)
        engine = SleepEngine(name, seconds=self.seconds)
        closed = self.closed

        def close() -> None:
            closed.append(name)

        engine.close = close  # type: ignore[attr-defined]
        self.engines.setdefault(name, []).append(engine)
        return engine


async def test_the_pool_keeps_at_most_max_loaded_engines_closing_the_least_recently_used() -> None:
    loads = Loads()
    pool = EnginePool({"a": "a", "b": "b", "c": "c"}, loads, max_loaded=2)
    assert (await pool.get("a")).model_id == "a"
    await pool.get("b")
    await pool.get("a")  # a is now the most recently used
    await pool.get("c")  # b goes
    assert loads.loaded == ["a", "b", "c"] and loads.closed == ["b"]
    assert pool.loaded == ["a", "c"] and pool.is_loaded("a") and not pool.is_loaded("b")
    await pool.aclose()
    assert sorted(loads.closed) == ["a", "b", "c"] and pool.loaded == []


async def test_an_alias_shares_the_engine_of_its_model() -> None:
    loads = Loads()
    pool = EnginePool({"anime": "anime", "niji": "anime"}, loads)
    assert await pool.get("niji") is await pool.get("anime")
    assert loads.loaded == ["anime"] and pool.served == ["anime", "niji"]


async def test_a_model_that_fails_to_load_is_not_retried_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = Loads(broken=("bad",))
    calls = []

    async def counting(name: str) -> AsyncEngine:
        calls.append(name)
        return await loads(name)

    pool = EnginePool({"good": "good", "bad": "bad"}, counting)
    for _ in range(2):
        with pytest.raises(ModelUnavailable) as err:
            await pool.get("bad")
        assert str(err.value) == "model bad cannot be loaded: bad.safetensors: not a checkpoint"
    assert calls == ["bad"]
    monkeypatch.setattr(pool_module, "BROKEN_FOR", -1.0)  # … until BROKEN_FOR has passed
    assert (await pool.get("good")).model_id == "good"


# --- the worker ------------------------------------------------------------------------------------


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _statuses(q: SettingsQueue, ids: list[str]) -> set[JobStatus]:
    return {(await q.reads.get_job(i)).status for i in ids}


async def _done(q: SettingsQueue, ids: list[str]) -> bool:
    return await _statuses(q, ids) <= {JobStatus.SUCCEEDED, JobStatus.FAILED}


async def test_one_worker_serves_two_models_with_one_loaded_each_job_on_its_own_model(
    make_queue: Callable[..., SettingsQueue],
) -> None:
    q = make_queue(queue={"max_batch": 8, "model_switch_after": 3600}, quota={"max_running": 10})
    ids = []
    for k in range(3):  # interleaved: a, b, a, b …
        ids += [j.id for j in await q.admission.enqueue(10 + k, [JobSpec(f"a{k}")], model="a")]
        ids += [j.id for j in await q.admission.enqueue(20 + k, [JobSpec(f"b{k}")], model="b")]
    loads = Loads()
    pool = EnginePool({"a": "a", "b": "b"}, loads, max_loaded=1)
    async with running(Worker(q.lifecycle, pool, q.settings.queue, "w1")):
        await poll_until(lambda: _done(q, ids), what="every job to finish")
    assert await _statuses(q, ids) == {JobStatus.SUCCEEDED}
    # Sorted by model, not interleaved: each model loaded once, its three jobs in one batch.
    assert loads.loaded == ["a", "b"] and loads.closed[:1] == ["a"]
    for name in ("a", "b"):
        [engine] = loads.engines[name]
        prompts = {(await q.reads.get_job(i)).spec.prompt for batch in engine.calls for i in batch}
        assert prompts == {f"{name}{k}" for k in range(3)}
    await pool.aclose()


async def test_no_model_waits_past_model_switch_after(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(queue={"max_batch": 4, "model_switch_after": 0.5}, quota={"max_running": 1})
    a_jobs = [j.id for u in range(6) for j in await q.admission.enqueue(100 + u, [JobSpec("a")], model="a")]
    [b_job] = await q.admission.enqueue(200, [JobSpec("b")], model="b")
    loads = Loads(seconds=0.6)  # each batch of a's (one job each) takes 0.6 s
    slow = EnginePool({"a": "a", "b": "b"}, loads, max_loaded=1)
    await slow.get("a")
    async with running(Worker(q.lifecycle, slow, q.settings.queue, "w1")):
        await poll_until(lambda: _done(q, [*a_jobs, b_job.id]), what="every job to finish", within=60)
    b_done = (await q.reads.get_job(b_job.id)).finished_at
    a_after = [i for i in a_jobs if (await q.reads.get_job(i)).finished_at > b_done]
    assert len(a_after) >= 3  # b ran before a's backlog was done, not after it
    assert loads.loaded[:3] == ["a", "b", "a"]
    await slow.aclose()


async def test_jobs_of_a_model_that_cannot_be_loaded_fail_refunded_with_the_reason(
    make_queue: Callable[..., SettingsQueue],
) -> None:
    q = make_queue(quota={"max_running": 10})
    [good] = await q.admission.enqueue(1, [JobSpec("fine")], model="good")
    bad = await q.admission.enqueue(1, [JobSpec("x")] * 2, model="bad")
    pool = EnginePool({"good": "good", "bad": "bad"}, Loads(broken=("bad",)), max_loaded=1)
    async with running(Worker(q.lifecycle, pool, q.settings.queue, "w1")):
        await poll_until(lambda: _done(q, [good.id] + [j.id for j in bad]), what="every job to finish")
    assert (await q.reads.get_job(good.id)).status is JobStatus.SUCCEEDED
    for j in bad:
        job = await q.reads.get_job(j.id)
        assert job.status is JobStatus.FAILED and job.failure is Failure.ENGINE_FAILED and not job.charged
        text = messages.failure(job.failure, job.error)
        assert "model bad cannot be loaded: bad.safetensors: not a checkpoint" in text and "refunded" in text
    await pool.aclose()


async def test_a_worker_announces_every_model_it_serves(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue(queue={"unserved_after": 0.3})
    served = await q.admission.enqueue(1, [JobSpec("a")], model="b")
    [orphan] = await q.admission.enqueue(2, [JobSpec("gone")], model="removed")
    await q.lifecycle.announce("w1", ["a", "b"])
    await asyncio.sleep(0.4)
    await q.lifecycle.announce("w1", ["a", "b"])
    assert await q.lifecycle.fail_unserved() == [orphan.id]
    assert (await q.reads.get_job(served[0].id)).status is JobStatus.QUEUED
    await q.lifecycle.announce("w1", ["a"])  # it no longer serves b
    await asyncio.sleep(0.4)
    await q.lifecycle.announce("w1", ["a"])
    assert await q.lifecycle.fail_unserved() == [served[0].id]


# --- the app's pool: what a worker serves ----------------------------------------------------------


def _settings(tmp_path: Path, **gen: object) -> Settings:
    models = tmp_path / "models"
    (models / "anime").mkdir(parents=True, exist_ok=True)
    (models / "anime" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (models / "broken.safetensors").write_bytes(b"\xff" * 20)
    return Settings.model_validate(
        {
            "app": {"data_dir": str(tmp_path)},
            "gen": {"models_dir": str(models), **gen},
            "models": {"anime": {"aliases": ["niji"]}},
        }
    )


def test_a_worker_serves_every_model_or_those_of_serve_models(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    catalogue = Catalogue.from_settings(settings)
    assert app_engines.served_models(settings, catalogue) == {"tiny": "tiny", "anime": "anime"}
    only = _settings(tmp_path, serve_models=["niji"])
    assert app_engines.served_models(only, Catalogue.from_settings(only)) == {"anime": "anime"}
    aliased = _settings(tmp_path, model="niji")
    assert app_engines.served_models(aliased, Catalogue.from_settings(aliased)) == {
        "anime": "anime",
        "niji": "anime",  # default jobs are queued under gen.model: the same engine
    }
    wrong = _settings(tmp_path, serve_models=["nope"])
    with pytest.raises(ConfigError, match=r"gen\.serve_models.*'nope'.*anime \(alias niji\)"):
        app_engines.served_models(wrong, Catalogue.from_settings(wrong))


async def test_start_up_reports_catalogue_problems_and_survives_a_broken_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def load_model(settings: Settings, name: str, catalogue: Catalogue) -> AsyncEngine:
        if name == "tiny":
            raise ValueError("tiny: weights missing")
        return SleepEngine(name)

    monkeypatch.setattr(app_engines, "load_model", load_model)
    caplog.set_level(logging.WARNING)
    pool = await app_engines.engine_pool(_settings(tmp_path, max_loaded_models=2))
    assert "model catalogue: " in caplog.text and "broken.safetensors" in caplog.text
    assert "model tiny cannot be loaded: tiny: weights missing; serving the other models" in caplog.text
    assert (await pool.get("anime")).model_id == "anime"
    only = _settings(tmp_path, serve_models=["tiny"])
    with pytest.raises(ValueError, match="tiny: weights missing"):  # the only model: fatal, as before
        await app_engines.engine_pool(only)
