"""Operator actions (`/admin` and `imaginebot admin`): quotas, bans, cancelling jobs, pause/resume.

Every change by an admin is written to `admin_audit` in the same transaction as the change itself.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import RELEASED, Database
from db.errors import JobNotFound, UserNotFound
from db.models import AdminAudit, Job, JobPreview, QueueState, User
from db.quota import Quotas
from db.records import CancelOutcome, QuotaInfo
from imaginebot.core.domain import Failure, JobStatus


class Admin:
    """The operator's role: change users' quotas and bans, cancel jobs, pause and resume the queue."""

    def __init__(self, database: Database, quotas: Quotas) -> None:
        self._db = database
        self._quotas = quotas

    async def _audit(
        self, conn: AsyncConnection, actor: str, action: str, target: str, reason: str = ""
    ) -> None:
        await conn.execute(
            self._db.insert(AdminAudit).values(
                at=self._db.now(), actor=actor, action=action, target=target, reason=reason
            )
        )

    async def _existing_user(self, conn: AsyncConnection, user_id: int) -> None:
        if await self._quotas.user(conn, user_id) is None:
            raise UserNotFound(user_id)

    async def quota_set(self, user_id: int, daily_limit: int, *, actor: str) -> QuotaInfo:
        """Override the user's daily job limit (creates the user's row if they never used the bot)."""
        if daily_limit < 0:
            raise ValueError(f"daily limit must be 0 or more, not {daily_limit}")
        async with self._db.write() as conn:
            await self._quotas.lock_user(conn, user_id, self._db.now())
            await conn.execute(update(User).where(User.id == user_id).values(daily_limit=daily_limit))
            await self._audit(conn, actor, "quota_set", str(user_id), str(daily_limit))
            return await self._quotas.info(conn, user_id, await self._quotas.user(conn, user_id))

    async def quota_reset(self, user_id: int, *, actor: str) -> QuotaInfo:
        """Forget the user's limit override and today's usage. Raises UserNotFound."""
        async with self._db.write() as conn:
            await self._existing_user(conn, user_id)
            await conn.execute(
                update(User).where(User.id == user_id).values(daily_limit=None, quota_reset_at=self._db.now())
            )
            await self._audit(conn, actor, "quota_reset", str(user_id))
            return await self._quotas.info(conn, user_id, await self._quotas.user(conn, user_id))

    async def ban(self, user_id: int, *, reason: str = "", actor: str) -> int:
        """Ban the user (creating their row if needed) and cancel their queued jobs, refunded.

        Running jobs finish. Returns how many queued jobs were cancelled.
        """
        now = self._db.now()
        async with self._db.write() as conn:
            await self._quotas.lock_user(conn, user_id, now)
            await conn.execute(
                update(User).where(User.id == user_id).values(banned=True, ban_reason=reason or None)
            )
            cancelled = (
                (
                    await conn.execute(
                        update(Job)
                        .where(Job.user_id == user_id, Job.status == JobStatus.QUEUED)
                        .values(
                            status=JobStatus.CANCELLED,
                            charged=False,
                            finished_at=now,
                            failure=Failure.BANNED,
                            error=None,
                        )
                        .returning(Job.id)
                    )
                )
                .scalars()
                .all()
            )
            await self._audit(conn, actor, "ban", str(user_id), reason)
        return len(cancelled)

    async def unban(self, user_id: int, *, reason: str = "", actor: str) -> None:
        """Lift a ban. Raises UserNotFound."""
        async with self._db.write() as conn:
            await self._existing_user(conn, user_id)
            await conn.execute(update(User).where(User.id == user_id).values(banned=False, ban_reason=None))
            await self._audit(conn, actor, "unban", str(user_id), reason)

    async def cancel(
        self, job_id: str, *, actor: str | None = None, user_id: int | None = None
    ) -> CancelOutcome:
        """Cancel a job. Queued: cancelled and refunded. Running: cancelled (its worker notices within about a
        second, stops and drops the results); a job that started is not refunded. `user_id` restricts the
        cancel to that user's own job; `actor` (an admin) is written to the audit log."""
        now = self._db.now()
        mine = Job.id == job_id if user_id is None else and_(Job.id == job_id, Job.user_id == user_id)
        async with self._db.write() as conn:
            if (await conn.execute(select(Job.status).where(mine))).first() is None:
                raise JobNotFound(job_id)
            ended = {"status": JobStatus.CANCELLED, "finished_at": now, **RELEASED}
            outcome = CancelOutcome.ALREADY_FINISHED
            stmt = update(Job).where(mine, Job.status == JobStatus.QUEUED).values(charged=False, **ended)
            if (await conn.execute(stmt.returning(Job.id))).first() is not None:
                outcome = CancelOutcome.REFUNDED
            else:
                stmt = update(Job).where(mine, Job.status == JobStatus.RUNNING).values(**ended)
                if (await conn.execute(stmt.returning(Job.id))).first() is not None:
                    outcome = CancelOutcome.STOPPING
            if outcome is not CancelOutcome.ALREADY_FINISHED:
                await conn.execute(delete(JobPreview).where(JobPreview.job_id == job_id))
            if actor is not None:
                await conn.execute(
                    self._db.insert(AdminAudit).values(
                        at=now, actor=actor, action="cancel", target=job_id, reason=outcome.value
                    )
                )
        return outcome

    async def _set_paused(self, paused: bool, actor: str) -> bool:
        """Returns whether the state changed."""
        async with self._db.write() as conn:
            changed = (
                await conn.execute(
                    update(QueueState)
                    .where(QueueState.id == 1, QueueState.paused.is_(not paused))
                    .values(paused=paused, updated_at=self._db.now())
                    .returning(QueueState.id)
                )
            ).first() is not None
            await self._audit(conn, actor, "pause" if paused else "resume", "queue")
            if not paused:
                await self._db.notify(conn)
        if not paused:
            self._db.wake_local()
        return changed

    async def pause(self, *, actor: str) -> bool:
        """Stop new jobs from being accepted and queued jobs from starting; running jobs finish."""
        return await self._set_paused(True, actor)

    async def resume(self, *, actor: str) -> bool:
        return await self._set_paused(False, actor)
