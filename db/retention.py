"""Retention (`storage.keep_days`): the image bytes of jobs finished long ago are deleted, the jobs stay.

`prune(keep_days)` deletes the `job_images` and `job_inputs` rows of finished jobs (succeeded, failed,
cancelled) whose `finished_at` is more than `keep_days` days ago (0: none, images are kept for ever), any
progress preview a finished job left behind, and erases every interaction token past its expiry (a
credential, useless by then). Every `jobs` row stays: the history, the quota's count and the lineage of
upscales and variations. Queued and running jobs are never touched. Deletes run in transactions of at most
`BATCH` jobs each, so that a large table never holds the SQLite write lock (or one PostgreSQL transaction)
for long. A run that deleted anything writes one `prune` row to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Executable, Select, and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.admin import audit
from db.database import Database
from db.models import Job, JobImage, JobInput, JobPreview
from db.outbox import Outbox
from db.records import PruneReport
from imaginebot.core.domain import JobStatus

BATCH = 500  # jobs per transaction
MAX_KEEP_DAYS = 36500
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Retention:
    """The storage sweeper's role (`imaginebot db prune`, the bot's daily run): old images, expired tokens."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._db = database
        self._outbox = outbox  # its erase_expired_tokens, which the delivery loop also runs every minute

    async def prune(
        self, keep_days: int, *, now: datetime | None = None, actor: str = "system"
    ) -> PruneReport:
        """Delete the images and input files of jobs finished more than `keep_days` days before `now` (the
        database's clock by default; 0 keeps them for ever), leftover previews of finished jobs, and erase
        expired interaction tokens. Idempotent: a second run finds nothing. Audited as `actor`."""
        if not 0 <= keep_days <= MAX_KEEP_DAYS:
            raise ValueError(f"keep_days must be 0 to {MAX_KEEP_DAYS}, not {keep_days}")
        now = self._db.now() if now is None else now
        jobs = images = inputs = size = 0
        if keep_days:
            jobs, images, inputs, size = await self._prune_files(now - timedelta(days=keep_days))
        report = PruneReport(
            jobs=jobs,
            images=images,
            inputs=inputs,
            bytes=size,
            tokens=await self._outbox.erase_expired_tokens(now),
            previews=await self._prune_previews(),
        )
        if report.deleted_anything:
            detail = f"keep_days={keep_days} " + " ".join(f"{k}={v}" for k, v in report.to_json().items())
            async with self._db.write() as conn:
                await audit(self._db, conn, actor, "prune", "storage", detail)
        return report

    async def images_pruned(self, job_id: str) -> bool:
        """Whether the job succeeded but its images are gone (deleted by retention): what a button that
        asks for one of them should tell its user."""
        async with self._db.read() as conn:
            status = (await conn.execute(select(Job.status).where(Job.id == job_id))).scalar_one_or_none()
            if status is not JobStatus.SUCCEEDED:
                return False
            left = await conn.execute(select(JobImage.job_id).where(JobImage.job_id == job_id).limit(1))
            return left.first() is None

    async def _prune_files(self, cutoff: datetime) -> tuple[int, int, int, int]:
        """(jobs, images, inputs, bytes) deleted, BATCH jobs a transaction, in job id order."""
        old = and_(
            Job.status.in_(FINISHED),
            Job.finished_at < cutoff,
            or_(exists().where(JobImage.job_id == Job.id), exists().where(JobInput.job_id == Job.id)),
        )
        jobs = images = inputs = size = 0
        after = ""
        while True:
            async with self._db.write() as conn:
                stmt = select(Job.id).where(old, Job.id > after).order_by(Job.id).limit(BATCH)
                ids = list((await conn.execute(stmt)).scalars())
                if not ids:
                    break
                after = ids[-1]
                gone_images = await _delete_returning(conn, JobImage, ids)
                gone_inputs = await _delete_returning(conn, JobInput, ids)
            jobs += len({job_id for job_id, _ in [*gone_images, *gone_inputs]})
            images += len(gone_images)
            inputs += len(gone_inputs)
            size += sum(length or 0 for _, length in [*gone_images, *gone_inputs])
        return jobs, images, inputs, size

    async def _prune_previews(self) -> int:
        """Delete progress previews that finished jobs left behind (normally removed as they finish)."""
        stmt = (
            select(JobPreview.job_id)
            .join(Job, Job.id == JobPreview.job_id)
            .where(Job.status.in_(FINISHED))
            .limit(BATCH)
        )
        return await self._in_batches(stmt, lambda ids: delete(JobPreview).where(JobPreview.job_id.in_(ids)))

    async def _in_batches(
        self, select_ids: Select[str], change: Callable[[list[str]], Executable]
    ) -> int:
        """Apply `change(ids)` to the ids `select_ids` finds (up to BATCH at a time; each change makes its
        ids drop out of the selection) until none is left; returns how many."""
        done = 0
        while True:
            async with self._db.write() as conn:
                ids = list((await conn.execute(select_ids)).scalars())
                if not ids:
                    return done
                await conn.execute(change(ids))
            done += len(ids)


async def _delete_returning(
    conn: AsyncConnection, table: type[JobImage] | type[JobInput], job_ids: Sequence[str]
) -> list[tuple[str, int | None]]:
    """Delete the table's rows of these jobs; (job id, PNG size) of each."""
    stmt = delete(table).where(table.job_id.in_(job_ids)).returning(table.job_id, func.length(table.png))
    return [(row[0], row[1]) for row in (await conn.execute(stmt)).all()]
