"""Reading and writing `job_inputs` and the parent images a claimed job starts from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import EMBEDS_POSITION, EMBEDS_ROLE, PROMPT_ROLE, SOURCE_ROLE, JobImage, JobInput
from imaginebot.core.domain import GenResult


async def parent_images(
    conn: AsyncConnection, keys: list[tuple[str | None, int | None]]
) -> dict[tuple[str, int], bytes]:
    wanted = {(j, i) for j, i in keys if j is not None and i is not None}
    if not wanted:
        return {}
    cond = or_(*(and_(JobImage.job_id == j, JobImage.index == i) for j, i in wanted))
    rows = (
        await conn.execute(select(JobImage.job_id, JobImage.index.label("idx"), JobImage.png).where(cond))
    ).all()
    return {(r.job_id, r.idx): r.png for r in rows}


async def source_files(conn: AsyncConnection, job_ids: list[str]) -> dict[str, bytes]:
    """The image files jobs were given as their source (`imaginebot edit FILE …`)."""
    if not job_ids:
        return {}
    stmt = select(JobInput.job_id, JobInput.png).where(
        JobInput.job_id.in_(job_ids), JobInput.role == SOURCE_ROLE
    )
    return {r.job_id: r.png for r in (await conn.execute(stmt)).all()}


async def prompt_inputs(
    conn: AsyncConnection, job_ids: list[str]
) -> tuple[dict[str, list[bytes]], dict[str, bytes]]:
    """The jobs' image prompts (PNG, in order) and their stored IP-Adapter embeddings."""
    stmt = (
        select(JobInput.job_id, JobInput.role, JobInput.png)
        .where(JobInput.job_id.in_(job_ids), JobInput.role.in_((PROMPT_ROLE, EMBEDS_ROLE)))
        .order_by(JobInput.job_id, JobInput.position)
    )
    prompts: dict[str, list[bytes]] = {}
    embeds: dict[str, bytes] = {}
    for r in (await conn.execute(stmt)).all():
        if r.role == PROMPT_ROLE:
            prompts.setdefault(r.job_id, []).append(r.png)
        else:
            embeds[r.job_id] = r.png
    return prompts, embeds


def embeds_row(result: GenResult, now: datetime) -> dict[str, object]:
    return {
        "job_id": result.job_id,
        "position": EMBEDS_POSITION,
        "role": EMBEDS_ROLE,
        "png": result.image_embeds,
        "width": 0,
        "height": 0,
        "created_at": now,
    }


async def image_prompt_rows(conn: AsyncConnection, job_id: str) -> list[dict[str, object]]:
    """A job's image prompts and their embeddings, as rows to store with another job (its re-roll or
    variation: the same images, not encoded again)."""
    stmt = (
        select(JobInput.position, JobInput.role, JobInput.png, JobInput.width, JobInput.height)
        .where(JobInput.job_id == job_id, JobInput.role.in_((PROMPT_ROLE, EMBEDS_ROLE)))
        .order_by(JobInput.position)
    )
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]

