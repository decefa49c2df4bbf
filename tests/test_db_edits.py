"""Edit jobs on the queue (SQLite and PostgreSQL): stored with their geometry and source, claimed with
both, batched only with edits of the same kind of pass and size, charged like any job."""

from __future__ import annotations

import pytest
from fake_engine import solid_png

from db.queue import Queue, SourceFile, SourceImageMissing
from imaginebot.core.domain import GenResult, ImageRef, JobKind, JobSpec
from imaginebot.core.edits import EditAction, make_square, pan, upscale_again, vary_region, zoom_out

SPEC = JobSpec("a red fox in snow", width=64, height=64, steps=4)
MODEL = "tiny"


async def _finished_grid(queue: Queue, user: int = 1) -> str:
    [job] = await queue.admission.enqueue(user, [SPEC], model=MODEL)
    [claimed] = await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    images = [solid_png(64, 64, (k * 40, 0, 0)) for k in range(4)]
    assert await queue.lifecycle.complete(job.id, "w", GenResult(job.id, images, 64, 64))
    return claimed.id


async def test_an_edit_is_stored_and_claimed_with_its_plan_and_source(queue: Queue) -> None:
    parent = await _finished_grid(queue)
    plan = zoom_out((64, 64), 2.0)
    [job] = await queue.admission.enqueue(
        1, [SPEC], kind=JobKind.ZOOM_OUT, model=MODEL, parent=ImageRef(parent, 3), edit=plan
    )
    assert job.kind is JobKind.ZOOM_OUT and job.edit == plan and job.image_count == 4
    assert (await queue.reads.get_job(job.id)).edit == plan
    [claimed] = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    request = claimed.request()
    assert request.edit == plan and request.source_png == solid_png(64, 64, (80, 0, 0))
    assert request.batch_key().family == "inpaint" and request.size == (64, 64)
    info = await queue.reads.quota_info(1)
    assert info.used_today == 2  # the grid and the edit: an edit is charged like any job


async def test_a_file_source_travels_with_its_job(queue: Queue) -> None:
    png = solid_png(40, 24, (1, 2, 3))
    plan = pan((40, 24), EditAction.PAN_LEFT, 64)
    [job] = await queue.admission.enqueue(
        5, [SPEC], kind=JobKind.PAN, model=MODEL, source=SourceFile(png, 40, 24), edit=plan
    )
    assert job.parent_job_id is None
    [claimed] = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    assert claimed.id == job.id and claimed.source_png == png and claimed.edit == plan


async def test_edits_batch_with_edits_of_the_same_pass_and_size_only(queue: Queue) -> None:
    parent = await _finished_grid(queue)
    ref = ImageRef(parent, 1)
    square = make_square((96, 64), 64)  # 64×64 output, like the region and zoom edits below
    kinds = [
        (JobKind.ZOOM_OUT, zoom_out((64, 64), 1.5)),
        (JobKind.VARY_REGION, vary_region((64, 64), [(0, 0, 0.5, 0.5)])),
        (JobKind.MAKE_SQUARE, square),
        (JobKind.VARIATION, None),  # img2img: another pass
        (JobKind.PAN, pan((64, 64), EditAction.PAN_UP, 64)),  # inpaint, but another size
    ]
    ids = []
    for user, (kind, plan) in enumerate(kinds, start=10):
        [job] = await queue.admission.enqueue(user, [SPEC], kind=kind, model=MODEL, parent=ref, edit=plan)
        ids.append(job.id)
    first = await queue.lifecycle.claim("w", model=MODEL, max_images=64)
    assert [j.id for j in first] == ids[:3]  # zoom, region and square share one inpainting pass
    assert len({j.request().batch_key() for j in first}) == 1


async def test_upscale_again_uses_its_own_strength_and_size(queue: Queue) -> None:
    parent = await _finished_grid(queue)
    plans = {
        a: upscale_again((128, 128), a) for a in (EditAction.UPSCALE_SUBTLE, EditAction.UPSCALE_CREATIVE)
    }
    jobs = []
    for action, plan in plans.items():
        [job] = await queue.admission.enqueue(
            1, [SPEC], kind=JobKind.for_action(action), model=MODEL, parent=ImageRef(parent, 2), edit=plan
        )
        jobs.append(job)
    assert [j.strength for j in jobs] == [0.2, 0.45] and [j.image_count for j in jobs] == [1, 1]
    assert {j.kind for j in jobs} == {JobKind.UPSCALE_SUBTLE, JobKind.UPSCALE_CREATIVE}
    assert [j.edit.size for j in jobs if j.edit] == [(256, 256), (256, 256)]
    claimed = await queue.lifecycle.claim("w", model=MODEL, max_images=8)
    assert len(claimed) == 1  # a subtle and a creative upscale differ in strength: two passes


async def test_a_missing_source_refuses_and_charges_nothing(queue: Queue) -> None:
    with pytest.raises(SourceImageMissing):
        await queue.admission.enqueue(
            1,
            [SPEC],
            kind=JobKind.ZOOM_OUT,
            model=MODEL,
            parent=ImageRef("nosuchjob123", 1),
            edit=zoom_out((64, 64), 2.0),
        )
    assert (await queue.reads.quota_info(1)).used_today == 0


async def test_an_edit_without_its_plan_or_source_is_a_programming_error(queue: Queue) -> None:
    parent = await _finished_grid(queue)
    with pytest.raises(ValueError, match="edit plan"):
        await queue.admission.enqueue(1, [SPEC], kind=JobKind.PAN, model=MODEL, parent=ImageRef(parent, 1))
    with pytest.raises(ValueError, match="source image"):
        await queue.admission.enqueue(
            1, [SPEC], kind=JobKind.PAN, model=MODEL, edit=make_square((96, 64), 64)
        )
    with pytest.raises(ValueError, match="not both"):
        await queue.admission.enqueue(
            1,
            [SPEC],
            kind=JobKind.PAN,
            model=MODEL,
            parent=ImageRef(parent, 1),
            source=SourceFile(solid_png(8, 8, (0, 0, 0)), 8, 8),
            edit=make_square((96, 64), 64),
        )

