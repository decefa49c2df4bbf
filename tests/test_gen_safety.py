"""Image moderation on the worker: the model's own safety checker or a transformers classifier gives each
generated image a verdict, stored with the image (job_images.flagged). Tiny random models with a forced
verdict stand in for the real ones (gen.tiny_safety): the real model code runs, nothing is patched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures_db import SettingsQueue, poll_until
from fixtures_model import gen_request
from PIL import Image

from gen.runner import ThreadedEngine, load_engine
from gen.safety import ImageCheckError, image_moderation, load_classifier
from gen.tiny_safety import make_tiny_classifier, save_with_safety_checker
from imaginebot.core.config import GenSettings, ModerationSettings
from imaginebot.core.domain import GenResult, JobSpec, JobStatus
from imaginebot.core.images import png_bytes
from worker.loop import Worker


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("classifiers")
    return {v: make_tiny_classifier(root / v, verdict=v) for v in ("nsfw", "normal")}  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def checked_models(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny SD model with its own safety checker, forced to flag everything or nothing."""
    root = tmp_path_factory.mktemp("checked-models")
    return {v: save_with_safety_checker(tiny_model_dir, root / v, verdict=v)  # type: ignore[arg-type]
            for v in ("nsfw", "normal")}


def _pictures(n: int) -> tuple[Image.Image, ...]:
    return tuple(Image.new("RGB", (40, 24), (60 * k, 90, 200 - 40 * k)) for k in range(n))


def _pipe(engine: ThreadedEngine) -> Any:
    return engine.engine.pipe  # type: ignore[attr-defined]


def _engine(model: Path, data_dir: Path, **moderation: Any) -> ThreadedEngine:
    gen = GenSettings(device="cpu", preview_interval=5.0, pipelined_encoding="on")
    return load_engine(gen, data_dir, model_override=str(model), moderation=ModerationSettings(**moderation))


def test_a_forced_classifier_decides_every_image(classifiers: dict[str, Path]) -> None:
    flagging = load_classifier(str(classifiers["nsfw"]))
    passing = load_classifier(str(classifiers["normal"]))
    assert flagging.flag(_pictures(3)) == [True, True, True]
    assert passing.flag(_pictures(3)) == [False, False, False]


def test_the_verdicts_follow_each_job_in_a_batch(tiny_pipe: Any, classifiers: dict[str, Path]) -> None:
    settings = ModerationSettings(image_classifier=str(classifiers["nsfw"]))
    moderation = image_moderation(tiny_pipe, settings)  # the tiny model has no checker of its own
    assert moderation is not None
    results = [
        GenResult("a", [], 40, 24, pictures=_pictures(4)),
        GenResult("b", [png_bytes(p) for p in _pictures(1)], 40, 24),  # an engine that encoded already
    ]
    checked = moderation.moderate(results)
    assert [r.flags for r in checked] == [(True,) * 4, (True,)]
    assert image_moderation(tiny_pipe, ModerationSettings(image_check="off")) is None
    # auto with neither a checker nor a classifier: nothing to check with
    assert image_moderation(tiny_pipe, ModerationSettings()) is None


def test_a_classifier_that_cannot_load_is_named(tmp_path: Path, tiny_pipe: Any) -> None:
    settings = ModerationSettings(image_classifier=str(tmp_path / "missing"))
    with pytest.raises(ImageCheckError, match=r"moderation\.image_classifier: cannot load .*missing"):
        image_moderation(tiny_pipe, settings)


def test_a_classifier_without_an_nsfw_label_is_refused(classifiers: dict[str, Path]) -> None:
    with pytest.raises(ImageCheckError, match=r"none of the labels .*\(normal, nsfw\).*image_nsfw_labels"):
        load_classifier(str(classifiers["nsfw"]), nsfw_labels=["porn"])


async def test_the_models_own_checker_flags_without_blackening(
    checked_models: dict[str, Path], classifiers: dict[str, Path], tmp_path: Path
) -> None:
    from gen.safety import PipelineChecker

    # Its own checker wins over a configured classifier that would pass everything.
    engine = await asyncio.to_thread(
        _engine, checked_models["nsfw"], tmp_path, image_classifier=str(classifiers["normal"])
    )
    try:
        assert _pipe(engine).safety_checker is None  # taken off: it never blackens inside the pipe
        assert isinstance(engine.moderation.checker, PipelineChecker)  # type: ignore[union-attr]
        results = await engine.generate([gen_request(steps=2, size=(64, 64))])
        [checked] = await engine.moderate(results)
        assert checked.flags == (True, True, True, True)
        assert all(p.getextrema() != ((0, 0), (0, 0), (0, 0)) for p in checked.pictures)  # not black
    finally:
        await engine.aclose()
    passing = await asyncio.to_thread(_engine, checked_models["normal"], tmp_path)
    try:
        [checked] = await passing.moderate(await passing.generate([gen_request(steps=2, size=(64, 64))]))
        assert checked.flags and not any(checked.flags)
    finally:
        await passing.aclose()


async def test_off_takes_the_checker_away_and_checks_nothing(
    checked_models: dict[str, Path], tmp_path: Path
) -> None:
    engine = await asyncio.to_thread(_engine, checked_models["nsfw"], tmp_path, image_check="off")
    try:
        assert engine.moderation is None and _pipe(engine).safety_checker is None
        [result] = await engine.moderate(await engine.generate([gen_request(steps=2, size=(64, 64))]))
        assert result.flags == ()
    finally:
        await engine.aclose()


async def test_the_worker_stores_each_images_verdict(
    make_queue: Callable[..., SettingsQueue], tiny_model_dir: Path, classifiers: dict[str, Path],
    tmp_path: Path,
) -> None:
    q = make_queue(queue={"max_batch": 8}, quota={"max_running": 10, "max_queued": 10})
    engine = await asyncio.to_thread(
        _engine, tiny_model_dir, tmp_path, image_classifier=str(classifiers["nsfw"])
    )
    engine.model_id = "tiny"
    spec = JobSpec("a red fox", width=64, height=64, steps=2)
    flagged_jobs = await q.admission.enqueue(1, [spec, spec], model="tiny")
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(q.lifecycle, engine, q.settings.queue, "w1").run(stop))
    try:
        async def done() -> bool:
            statuses = [(await q.reads.get_job(j.id)).status for j in flagged_jobs]
            return statuses == [JobStatus.SUCCEEDED] * len(flagged_jobs)

        await poll_until(done, within=120, what="the jobs to succeed")
        for job in flagged_jobs:
            images = await q.reads.get_images(job.id)
            assert [i.flagged for i in images] == [True] * 4
        # A model whose check passes everything stores False (and an unchecked image reads False too).
        engine.moderation = image_moderation(_pipe(engine), ModerationSettings(
            image_classifier=str(classifiers["normal"])))
        [passed] = await q.admission.enqueue(1, [spec], model="tiny")

        async def passed_done() -> bool:
            return (await q.reads.get_job(passed.id)).status is JobStatus.SUCCEEDED

        await poll_until(passed_done, within=120, what="the second job to succeed")
        assert [i.flagged for i in await q.reads.get_images(passed.id)] == [False] * 4
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await engine.aclose()

