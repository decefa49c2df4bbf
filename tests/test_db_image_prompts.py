"""Image prompts on the queue (SQLite and PostgreSQL): stored once with each job, claimed with it in
order, their IP-Adapter embeddings kept with the job once computed, and batched only with jobs of the
same --iw and image count."""

from __future__ import annotations

from fake_engine import solid_png

from db.job_inputs import prompt_inputs
from db.queue import Queue, SourceFile
from imaginebot.core.domain import GenResult, JobSpec

MODEL = "tiny"
FIRST, SECOND = solid_png(8, 8, (200, 0, 0)), solid_png(16, 8, (0, 200, 0))


def spec(iw: float = 1.0) -> JobSpec:
    return JobSpec("a red fox", width=64, height=64, steps=4, iw=iw)


async def test_image_prompts_travel_with_their_jobs_and_keep_their_embeddings(queue: Queue) -> None:
    inputs = [SourceFile(FIRST, 8, 8), SourceFile(SECOND, 16, 8)]
    jobs = await queue.admission.enqueue(7, [spec(2.0), spec(2.0)], model=MODEL, inputs=inputs)
    assert (await queue.reads.quota_info(7)).used_today == 2  # charged like any job
    claimed = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    assert sorted(c.id for c in claimed) == sorted(j.id for j in jobs)  # one batch: same weight and count
    for c in claimed:
        request = c.request()
        assert request.images == (FIRST, SECOND) and request.image_embeds is None
        assert request.batch_key().image is not None and request.batch_key().image.count == 2
    first = claimed[0]
    result = GenResult(first.id, [solid_png(64, 64, (1, 1, 1))] * 4, 64, 64, image_embeds=b"embeddings")
    assert await queue.lifecycle.complete(first.id, "w", result)
    async with queue.database.read() as conn:
        prompts, embeds = await prompt_inputs(conn, [c.id for c in claimed])
    assert prompts == {c.id: [FIRST, SECOND] for c in claimed}
    assert embeds == {first.id: b"embeddings"}


async def test_image_prompt_jobs_batch_only_with_the_same_weight_and_count(queue: Queue) -> None:
    one = [SourceFile(FIRST, 8, 8)]
    [a] = await queue.admission.enqueue(1, [spec(1.0)], model=MODEL, inputs=one)
    [b] = await queue.admission.enqueue(2, [spec(2.0)], model=MODEL, inputs=one)
    [c] = await queue.admission.enqueue(3, [spec(1.0)], model=MODEL)
    [d] = await queue.admission.enqueue(4, [spec(1.0)], model=MODEL, inputs=one)
    batches = []
    for _ in range(3):
        batches.append(sorted(j.id for j in await queue.lifecycle.claim("w", model=MODEL, max_images=32)))
    assert sorted(batches) == sorted([sorted([a.id, d.id]), [b.id], [c.id]])


async def test_a_reroll_gets_the_images_and_embeddings_of_its_grid(queue: Queue) -> None:
    from imaginebot.core.domain import JobKind

    [grid] = await queue.admission.enqueue(3, [spec()], model=MODEL, inputs=[SourceFile(FIRST, 8, 8)])
    [claimed] = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    done = GenResult(grid.id, [solid_png(64, 64, (1, 1, 1))] * 4, 64, 64, image_embeds=b"kept")
    assert await queue.lifecycle.complete(claimed.id, "w", done)
    [again] = await queue.admission.enqueue(3, [spec()], kind=JobKind.REROLL, model=MODEL, inputs_of=grid.id)
    [rerun] = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    assert rerun.id == again.id
    request = rerun.request()
    assert (request.images, request.image_embeds) == ((FIRST,), b"kept")
    assert request.batch_key() == claimed.request().batch_key()
