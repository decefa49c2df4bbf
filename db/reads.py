"""Read-only views: one job, a user's jobs, the history, images, previews, queue positions, quotas, the
paused flag and statistics. Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from db.claim import positions_statement
from db.database import Database, day_start
from db.errors import JobNotFound, UserNotFound
from db.guilds import Guilds
from db.models import Job, JobImage, JobPreview, QueueState
from db.quota import Quotas
from db.records import JobImage as JobImageRecord
from db.records import JobRecord, QueueStats, QuotaInfo
from imaginebot.core.domain import JobStatus


class Reads:
    def __init__(self, database: Database, quotas: Quotas, guilds: Guilds) -> None:
        self._db = database
        self._quotas = quotas
        self._guilds = guilds

    async def _positions(self, conn: AsyncConnection, job_ids: Iterable[str] | None = None) -> dict[str, int]:
        stmt = positions_statement(self._db.relax_before(self._db.now()))
        if job_ids is not None:
            wanted = set(job_ids)
            if not wanted:
                return {}
            sub = stmt.subquery()
            rows = await conn.execute(select(sub.c.id, sub.c.position).where(sub.c.id.in_(wanted)))
        else:
            rows = await conn.execute(stmt)
        return {r.id: int(r.position) for r in rows}

    async def _records(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[JobRecord]:
        queued = [r["id"] for r in rows if r["status"] == JobStatus.QUEUED]
        positions = await self._positions(conn, queued) if queued else {}
        return [JobRecord.from_row(r, positions.get(r["id"])) for r in rows]

    # -- jobs ----------------------------------------------------------------------------------------

    async def position(self, job_id: str) -> int | None:
        """1-based place of a queued job in its model's claim order ("Queued — position N"), else None."""
        async with self._db.read() as conn:
            return (await self._positions(conn, [job_id])).get(job_id)

    async def get_job(self, job_id: str) -> JobRecord:
        """The job, with its position when queued. Raises JobNotFound."""
        async with self._db.read() as conn:
            rows = await self._db.job_rows(conn, Job.id == job_id)
            if not rows:
                raise JobNotFound(job_id)
            return (await self._records(conn, rows))[0]

    async def progress_of(self, job_ids: Iterable[str]) -> dict[str, tuple[JobStatus, int]]:
        """Status and progress (percent) of each of these jobs, in one light query (for watchers)."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(Job.id, Job.status, Job.progress).where(Job.id.in_(set(job_ids)))
            )
            return {r.id: (JobStatus(r.status), int(r.progress or 0)) for r in rows}

    async def find_job(self, job_id: str) -> JobRecord | None:
        try:
            return await self.get_job(job_id)
        except JobNotFound:
            return None

    async def user_jobs(
        self, user_id: int, statuses: Iterable[JobStatus] = (JobStatus.QUEUED, JobStatus.RUNNING)
    ) -> list[JobRecord]:
        """The user's jobs in these states, oldest first (for /info)."""
        async with self._db.read() as conn:
            rows = await self._db.job_rows(
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
        async with self._db.read() as conn:
            rows = await self._db.job_rows(
                conn, cond, order=[Job.created_at.desc(), Job.id.desc()], limit=limit
            )
            return await self._records(conn, rows)

    async def gpu_seconds_today(self, user_id: int) -> float | None:
        """The GPU seconds of the user's jobs finished today (UTC); None when none of them was measured."""
        since = day_start(self._db.now())
        stmt = select(func.sum(Job.gpu_seconds)).where(Job.user_id == user_id, Job.finished_at >= since)
        async with self._db.read() as conn:
            total = (await conn.execute(stmt)).scalar_one()
        return None if total is None else float(total)

    async def queue_list(self, guild_id: int | None = None) -> list[JobRecord]:
        """Running jobs (oldest start first), then queued jobs in claim order (per model); with
        `guild_id`, only the jobs made in that guild (positions stay those of the whole queue)."""
        here = Job.guild_id == guild_id if guild_id is not None else true()
        async with self._db.read() as conn:
            running = await self._db.job_rows(
                conn, and_(Job.status == JobStatus.RUNNING, here), order=[Job.started_at, Job.id]
            )
            queued = await self._db.job_rows(conn, and_(Job.status == JobStatus.QUEUED, here))
            positions = await self._positions(conn)
        records = [JobRecord.from_row(r) for r in running]
        waiting = [JobRecord.from_row(r, positions.get(r["id"])) for r in queued]
        waiting.sort(key=lambda j: (j.position or 0, j.model, j.created_at))
        return records + waiting

    # -- images --------------------------------------------------------------------------------------

    async def get_images(self, job_id: str) -> list[JobImageRecord]:
        """A finished job's images in order (index 1…n); [] while it is not finished."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                _image_select().where(JobImage.job_id == job_id).order_by(JobImage.index)
            )
            return [_image_record(r) for r in rows]

    async def get_image(self, job_id: str, index: int) -> JobImageRecord | None:
        async with self._db.read() as conn:
            r = (
                await conn.execute(_image_select().where(JobImage.job_id == job_id, JobImage.index == index))
            ).first()
        return None if r is None else _image_record(r)

    async def get_preview(self, job_id: str) -> bytes | None:
        """The latest progress preview (JPEG) of a running job, if the engine sent one."""
        async with self._db.read() as conn:
            return (
                await conn.execute(select(JobPreview.jpeg).where(JobPreview.job_id == job_id))
            ).scalar_one_or_none()

    # -- users and the queue -------------------------------------------------------------------------

    async def quota_info(self, user_id: int, guild_id: int | None = None) -> QuotaInfo:
        """The user's quota today (for /info); a user who never used the bot gets the defaults. With
        `guild_id`, also that guild's limit, ban and the user's usage there (`QuotaInfo.guild`)."""
        async with self._db.read() as conn:
            return await self._quota(conn, user_id, guild_id, must_exist=False)

    async def quota_show(self, user_id: int, guild_id: int | None = None) -> QuotaInfo:
        """Like quota_info, but raises UserNotFound for a user the database has never seen."""
        async with self._db.read() as conn:
            return await self._quota(conn, user_id, guild_id, must_exist=True)

    async def _quota(
        self, conn: AsyncConnection, user_id: int, guild_id: int | None, *, must_exist: bool
    ) -> QuotaInfo:
        user = await self._quotas.user(conn, user_id)
        if user is None and must_exist:
            raise UserNotFound(user_id)
        return await self._guilds.quota(conn, self._quotas, user_id, user, guild_id)

    async def user_exists(self, user_id: int) -> bool:
        async with self._db.read() as conn:
            return await self._quotas.user(conn, user_id) is not None

    async def is_paused(self, guild_id: int | None = None) -> bool:
        """The operators' pause; with `guild_id`, whether that guild's moderators paused it."""
        async with self._db.read() as conn:
            if guild_id is not None:
                return await self._guilds.is_paused(conn, guild_id)
            return bool(
                (await conn.execute(select(QueueState.paused).where(QueueState.id == 1))).scalar_one()
            )

    async def stats(self) -> QueueStats:
        """Jobs by status (every status listed), stored images, and jobs charged since 00:00 UTC."""
        async with self._db.read() as conn:
            by_status = {s.value: 0 for s in JobStatus}
            for status, n in await conn.execute(select(Job.status, func.count()).group_by(Job.status)):
                by_status[JobStatus(status).value] = int(n)
            images = (await conn.execute(select(func.count()).select_from(JobImage))).scalar_one()
            charged = (
                await conn.execute(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.charged.is_(True), Job.created_at >= day_start(self._db.now()))
                )
            ).scalar_one()
        return QueueStats(by_status, int(images), int(charged))


def _image_select() -> Any:
    return select(
        JobImage.job_id, JobImage.index.label("idx"), JobImage.png, JobImage.width, JobImage.height,
        JobImage.flagged,
    )


def _image_record(r: Any) -> JobImageRecord:
    return JobImageRecord(r.job_id, r.idx, r.png, r.width, r.height, bool(r.flagged))
