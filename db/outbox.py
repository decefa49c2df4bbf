"""The delivery outbox: finished jobs whose result has not been posted to Discord yet.

The bot may post a result more than once (a crash between posting and `mark_delivered`, or two bot
replicas reading the same row); it posts with the job id as the message nonce so Discord drops the repeat.
`mark_delivered` itself is a compare-and-set on `delivered_at IS NULL`: exactly one caller wins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from db.database import Database
from db.models import Job
from db.records import JobRecord
from imaginebot.core.domain import JobStatus

FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Outbox:
    """The delivery loop's role: find what to post or edit on Discord, and record what was posted."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def undelivered(self, limit: int = 50, max_attempts: int | None = None) -> list[JobRecord]:
        """Finished jobs with a delivery target that have not been delivered, oldest finish first; with
        `max_attempts`, not those that many delivery attempts have failed to reach (they stay undelivered
        and out of the way of the others)."""
        cond = Job.status.in_(FINISHED) & Job.delivered_at.is_(None) & Job.channel_id.is_not(None)
        if max_attempts is not None:
            cond = cond & (Job.delivery_attempts < max_attempts)
        async with self._db.read() as conn:
            rows = await self._db.job_rows(conn, cond, order=[Job.finished_at, Job.id], limit=limit)
        return [JobRecord.from_row(r) for r in rows]

    async def running_with_delivery(self) -> list[JobRecord]:
        """Running jobs with a delivery target (for progress edits), oldest start first."""
        cond = (Job.status == JobStatus.RUNNING) & Job.channel_id.is_not(None)
        async with self._db.read() as conn:
            rows = await self._db.job_rows(conn, cond, order=[Job.started_at, Job.id])
        return [JobRecord.from_row(r) for r in rows]

    async def set_progress_message(self, job_id: str, message_id: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(update(Job).where(Job.id == job_id).values(progress_message_id=message_id))

    async def mark_delivered(self, job_id: str, result_message_id: int | None) -> bool:
        """Record the delivery; True for exactly one caller per job (CAS on `delivered_at IS NULL`)."""
        async with self._db.write() as conn:
            stmt = (
                update(Job)
                .where(Job.id == job_id, Job.delivered_at.is_(None))
                .values(delivered_at=self._db.now(), result_message_id=result_message_id)
                .returning(Job.id)
            )
            return (await conn.execute(stmt)).first() is not None

    async def delivery_attempt(self, job_id: str) -> int:
        """Count a delivery attempt *before* it posts (so that after a crash the next attempt knows one
        may have posted); returns the attempts so far, this one included."""
        async with self._db.write() as conn:
            stmt = (
                update(Job)
                .where(Job.id == job_id)
                .values(delivery_attempts=Job.delivery_attempts + 1)
                .returning(Job.delivery_attempts)
            )
            return int((await conn.execute(stmt)).scalar_one_or_none() or 0)

    async def erase_expired_tokens(self, now: datetime | None = None) -> int:
        """Forget interaction tokens past their expiry at `now` (the database's clock by default): they are
        credentials, and useless by then."""
        expired_before = self._db.now() if now is None else now
        async with self._db.write() as conn:
            stmt = (
                update(Job)
                .where(Job.interaction_token.is_not(None), Job.token_expires_at < expired_before)
                .values(interaction_token=None)
                .returning(Job.id)
            )
            return len((await conn.execute(stmt)).all())
