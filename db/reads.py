"""Read-only views of jobs: one job, a user's jobs, the history, images, previews and queue positions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.claim import positions_statement
from db.core import QueueCore
from db.errors import JobNotFound
from db.models import Job, JobImage, JobPreview
from db.records import JobImage as JobImageRecord
from db.records import JobRecord
from imaginebot.core.domain import JobStatus


class ReadOps(QueueCore):
    async def _positions(self, conn: AsyncConnection, job_ids: Iterable[str] | None = None) -> dict[str, int]:
        stmt = positions_statement()
        if job_ids is not None:
            wanted = set(job_ids)
            if not wanted:
                return {}
            sub = stmt.subquery()
            rows = await conn.execute(select(sub.c.id, sub.c.position).where(sub.c.id.in_(wanted)))
        else:
            rows = await conn.execute(stmt)
        return {r.id: int(r.position) for r in rows}

    async def _records(self, conn: AsyncConnection, rows: Sequence[object]) -> list[JobRecord]:
        queued = [r["id"] for r in rows if r["status"] == JobStatus.QUEUED]  # type: ignore[index]
        positions = await self._positions(conn, queued) if queued else {}
        return [JobRecord.from_row(r, positions.get(r["id"])) for r in rows]  # type: ignore[arg-type, index]

    async def position(self, job_id: str) -> int | None:
        """1-based place of a queued job in its model's claim order ("Queued — position N"), else None."""
        async with self.read() as conn:
            return (await self._positions(conn, [job_id])).get(job_id)

    async def get_job(self, job_id: str) -> JobRecord:
        """The job, with its position when queued. Raises JobNotFound."""
        async with self.read() as conn:
            rows = await self._job_rows(conn, Job.id == job_id)
            if not rows:
                raise JobNotFound(job_id)
            return (await self._records(conn, rows))[0]

    async def find_job(self, job_id: str) -> JobRecord | None:
        try:
            return await self.get_job(job_id)
        except JobNotFound:
            return None

    async def user_jobs(
        self, user_id: int, statuses: Iterable[JobStatus] = (JobStatus.QUEUED, JobStatus.RUNNING)
    ) -> list[JobRecord]:
        """The user's jobs in these states, oldest first (for /info)."""
        async with self.read() as conn:
            rows = await self._job_rows(
                conn,
                (Job.user_id == user_id) & Job.status.in_(list(statuses)),
                order=[Job.created_at, Job.id],
            )
            return await self._records(conn, rows)

    async def history(
        self, *, user: int | None = None, status: JobStatus | None = None, limit: int = 20
    ) -> list[JobRecord]:
        """Jobs newest first, optionally of one user and/or in one state."""
        cond: ColumnElement[bool] = Job.id.is_not(None)
        if user is not None:
            cond = cond & (Job.user_id == user)
        if status is not None:
            cond = cond & (Job.status == status)
        async with self.read() as conn:
            rows = await self._job_rows(conn, cond, order=[Job.created_at.desc(), Job.id.desc()], limit=limit)
            return await self._records(conn, rows)

    async def queue_list(self) -> list[JobRecord]:
        """Running jobs (oldest start first), then queued jobs in claim order (per model)."""
        async with self.read() as conn:
            running = await self._job_rows(
                conn, Job.status == JobStatus.RUNNING, order=[Job.started_at, Job.id]
            )
            queued = await self._job_rows(conn, Job.status == JobStatus.QUEUED)
            positions = await self._positions(conn)
        records = [JobRecord.from_row(r) for r in running]
        waiting = [JobRecord.from_row(r, positions.get(r["id"])) for r in queued]
        waiting.sort(key=lambda j: (j.position or 0, j.model, j.created_at))
        return records + waiting

    async def get_images(self, job_id: str) -> list[JobImageRecord]:
        """A finished job's images in order (index 1…n); [] while it is not finished."""
        async with self.read() as conn:
            rows = await conn.execute(
                _image_select().where(JobImage.job_id == job_id).order_by(JobImage.index)
            )
            return [_image_record(r) for r in rows]

    async def get_image(self, job_id: str, index: int) -> JobImageRecord | None:
        async with self.read() as conn:
            r = (
                await conn.execute(_image_select().where(JobImage.job_id == job_id, JobImage.index == index))
            ).first()
        return None if r is None else _image_record(r)

    async def get_preview(self, job_id: str) -> bytes | None:
        """The latest progress preview (JPEG) of a running job, if the engine sent one."""
        async with self.read() as conn:
            return (
                await conn.execute(select(JobPreview.jpeg).where(JobPreview.job_id == job_id))
            ).scalar_one_or_none()


def _image_select() -> Any:
    return select(JobImage.job_id, JobImage.index.label("idx"), JobImage.png, JobImage.width, JobImage.height)


def _image_record(r: Any) -> JobImageRecord:
    return JobImageRecord(r.job_id, r.idx, r.png, r.width, r.height)
