"""The pipelined worker: a finished batch is encoded and stored while the next one generates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fixtures_db import SettingsQueue, poll_until
from PIL import Image

from imaginebot.core.domain import GenRequest, GenResult, JobSpec, JobStatus
from imaginebot.core.images import encode_pictures, png_bytes
from worker.loop import Worker

MODEL = "tiny"


class PictureEngine:
    """Returns decoded pictures, as a pipelined DiffusersEngine does; records when each call starts."""

    model_id = MODEL

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def generate(self, batch: list[GenRequest], progress: Any = None, is_cancelled: Any = None) -> Any:
        self.calls.append([r.job_id for r in batch])
        await asyncio.sleep(0.05)
        return [
            GenResult(
                r.job_id, [], 16, 16, pictures=tuple(_picture(r.seed + k) for k in range(r.image_count))
            )
            for r in batch
        ]


def _picture(n: int) -> Image.Image:
    return Image.new("RGB", (16, 16), (n % 256, (n * 7) % 256, 99))


class GatedStores:
    """Wraps `complete_many`: the first store waits until `release` is set."""

    def __init__(self, q: SettingsQueue) -> None:
        self.original = q.lifecycle.complete_many
        self.release = asyncio.Event()
        self.blocked = asyncio.Event()
        self.stores = 0
        q.lifecycle.complete_many = self  # type: ignore[method-assign]

    async def __call__(self, worker_id: str, results: list[GenResult]) -> set[str]:
        self.stores += 1
        if self.stores == 1:
            self.blocked.set()
            await self.release.wait()
        return await self.original(worker_id, results)


async def _all_succeeded(q: SettingsQueue, ids: list[str]) -> bool:
    statuses = [(await q.reads.get_job(i)).status for i in ids]
    return all(s is JobStatus.SUCCEEDED for s in statuses)


async def test_the_next_batch_generates_while_the_last_one_is_stored(
    make_queue: Callable[..., SettingsQueue],
) -> None:
    q = make_queue(queue={"max_batch": 4}, quota={"max_running": 10, "max_queued": 10})
    jobs = await q.admission.enqueue(1, [JobSpec(f"p{n}", seed=10 * n) for n in range(4)], model=MODEL)
    ids = [j.id for j in jobs]
    engine, gate = PictureEngine(), GatedStores(q)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(q.lifecycle, engine, q.settings.queue, "w1").run(stop))
    try:
        await asyncio.wait_for(gate.blocked.wait(), 20)

        async def second_started() -> bool:
            return len(engine.calls) >= 2

        await poll_until(second_started, what="the second batch to start while the first is stored")
        assert gate.stores == 1  # the first batch's store is still waiting
        # At most one batch waits to be stored: the third does not start before the first is stored.
        await asyncio.sleep(0.5)
        assert len(engine.calls) == 2
        assert (await q.reads.get_job(engine.calls[0][0])).status is JobStatus.RUNNING
        gate.release.set()
        await poll_until(lambda: _all_succeeded(q, ids), what="every job to be stored")
    finally:
        gate.release.set()
        stop.set()
        await asyncio.wait_for(task, 30)
    assert len(engine.calls) == 4
    for job in jobs:
        images = await q.reads.get_images(job.id)
        expected = [png_bytes(_picture(job.seed + k)) for k in range(4)]
        assert [i.png for i in images] == expected  # the worker PNG-encoded the pictures


async def test_stopping_waits_for_the_batch_being_stored(make_queue: Callable[..., SettingsQueue]) -> None:
    q = make_queue()
    [job] = await q.admission.enqueue(1, [JobSpec("a", seed=3)], model=MODEL)
    engine, gate = PictureEngine(), GatedStores(q)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(q.lifecycle, engine, q.settings.queue, "w1").run(stop))
    await asyncio.wait_for(gate.blocked.wait(), 20)
    stop.set()
    await asyncio.sleep(0.3)
    assert not task.done()  # the results are stored before the worker ends, not dropped
    gate.release.set()
    await asyncio.wait_for(task, 30)
    back = await q.reads.get_job(job.id)
    assert back.status is JobStatus.SUCCEEDED
    assert len(await q.reads.get_images(job.id)) == 4


def test_deferred_encoding_gives_the_same_bytes(tiny_engine: Any) -> None:
    from fixtures_model import gen_request

    [plain] = tiny_engine.generate([gen_request(seed=21, size=(64, 64))])
    tiny_engine.defer_png = True
    try:
        [deferred] = tiny_engine.generate([gen_request(seed=21, size=(64, 64))])
    finally:
        tiny_engine.defer_png = False
    assert deferred.images == [] and len(deferred.pictures) == 4
    [encoded] = asyncio.run(encode_pictures([deferred]))
    assert encoded.images == plain.images and encoded.pictures == ()
    assert (encoded.width, encoded.height) == (plain.width, plain.height)
