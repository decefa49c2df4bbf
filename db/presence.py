"""Which models are served: workers announce themselves (and their models) as they loop, and queued jobs
of a model no worker has served for `unserved_after` seconds fail, refunded, instead of waiting for ever
(and holding their user's `max_queued` slots) — a button of a model that was removed, a worker host gone.

Times are the leases' clock (`Database.lease_now`: PostgreSQL's own on a shared database).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update

from db.database import Database
from db.models import Job, JobPreview, UTCDateTime, WorkerPresence
from imaginebot.core.domain import Failure, JobStatus

log = logging.getLogger(__name__)


async def announce(db: Database, worker_id: str, models: Sequence[str]) -> None:
    """Record that `worker_id` serves `models` now, and no other (upserts; cheap enough for every loop)."""
    now = db.lease_now()
    async with db.write() as conn:
        for model in dict.fromkeys(models):
            stmt = db.insert(WorkerPresence).values(id=worker_id, model=model, started_at=now, last_seen=now)
            stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=[WorkerPresence.id, WorkerPresence.model], set_={"last_seen": now}
            )
            await conn.execute(stmt)
        await conn.execute(
            delete(WorkerPresence).where(WorkerPresence.id == worker_id, WorkerPresence.model.not_in(models))
        )


async def oldest_waiting(db: Database, models: Sequence[str]) -> dict[str, datetime]:
    """For each of `models` with queued jobs: when its oldest queued job was submitted (one indexed read:
    ix_jobs_claim leads with status, model)."""
    if not models:
        return {}
    stmt = (
        select(Job.model, func.min(Job.created_at, type_=UTCDateTime()))
        .where(Job.status == JobStatus.QUEUED, Job.model.in_(list(models)))
        .group_by(Job.model)
    )
    async with db.read() as conn:
        return {str(model): oldest for model, oldest in await conn.execute(stmt)}


async def retire(db: Database, worker_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(delete(WorkerPresence).where(WorkerPresence.id == worker_id))


async def fail_unserved(db: Database) -> list[str]:
    """Fail and refund queued jobs whose model no worker has served for `unserved_after` seconds (and
    that waited that long); forget workers silent for as long. Returns the failed job ids."""
    since = db.lease_ago(db.policy.unserved_after)
    served = select(WorkerPresence.model).where(WorkerPresence.last_seen > since)
    stale = (Job.status == JobStatus.QUEUED) & (Job.created_at < since) & Job.model.not_in(served)
    async with db.read() as conn:  # the common case, everything served, costs one read
        if (await conn.execute(select(Job.id).where(stale).limit(1))).first() is None:
            return []
    async with db.write() as conn:
        failed = list(
            (
                await conn.execute(
                    update(Job)
                    .where(stale)
                    .values(
                        status=JobStatus.FAILED,
                        charged=False,
                        finished_at=db.now(),
                        failure=Failure.NO_WORKER,
                        error=Job.model,
                    )
                    .returning(Job.id)
                )
            ).scalars()
        )
        if failed:
            await conn.execute(delete(JobPreview).where(JobPreview.job_id.in_(failed)))
        await conn.execute(delete(WorkerPresence).where(WorkerPresence.last_seen <= since))
    for job_id in failed:
        log.warning(
            "job %s: no worker served its model for %.0f s; failed and refunded",
            job_id,
            db.policy.unserved_after,
        )
    return failed
