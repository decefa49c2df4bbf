"""Operator actions (`/admin` and `imaginebot admin`): quotas, bans, pause/resume, statistics.

Every change is written to `admin_audit` in the same transaction as the change itself.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.core import day_start
from db.errors import UserNotFound
from db.models import AdminAudit, Job, JobImage, QueueState, User
from db.quota import QuotaOps
from db.records import AuditEntry, QueueStats, QuotaInfo
from imaginebot.core.domain import JobStatus

BANNED_ERROR = "Cancelled: you were banned from generating images."


class AdminOps(QuotaOps):
    async def _audit(
        self, conn: AsyncConnection, actor: str, action: str, target: str, reason: str = ""
    ) -> None:
        await conn.execute(
            self.insert(AdminAudit).values(
                at=self.now(), actor=actor, action=action, target=target, reason=reason
            )
        )

    async def _existing_user(self, conn: AsyncConnection, user_id: int) -> None:
        if await self._user(conn, user_id) is None:
            raise UserNotFound(user_id)

    async def quota_set(self, user_id: int, daily_limit: int, *, actor: str) -> QuotaInfo:
        """Override the user's daily job limit (creates the user's row if they never used the bot)."""
        if daily_limit < 0:
            raise ValueError(f"daily limit must be 0 or more, not {daily_limit}")
        async with self.write() as conn:
            await self._lock_user(conn, user_id, self.now())
            await conn.execute(update(User).where(User.id == user_id).values(daily_limit=daily_limit))
            await self._audit(conn, actor, "quota_set", str(user_id), str(daily_limit))
            return await self._quota_info(conn, user_id, await self._user(conn, user_id))

    async def quota_reset(self, user_id: int, *, actor: str) -> QuotaInfo:
        """Forget the user's limit override and today's usage. Raises UserNotFound."""
        async with self.write() as conn:
            await self._existing_user(conn, user_id)
            await conn.execute(
                update(User).where(User.id == user_id).values(daily_limit=None, quota_reset_at=self.now())
            )
            await self._audit(conn, actor, "quota_reset", str(user_id))
            return await self._quota_info(conn, user_id, await self._user(conn, user_id))

    async def ban(self, user_id: int, *, reason: str = "", actor: str) -> int:
        """Ban the user (creating their row if needed) and cancel their queued jobs, refunded.

        Running jobs finish. Returns how many queued jobs were cancelled.
        """
        now = self.now()
        async with self.write() as conn:
            await self._lock_user(conn, user_id, now)
            await conn.execute(
                update(User).where(User.id == user_id).values(banned=True, ban_reason=reason or None)
            )
            cancelled = (
                (
                    await conn.execute(
                        update(Job)
                        .where(Job.user_id == user_id, Job.status == JobStatus.QUEUED)
                        .values(
                            status=JobStatus.CANCELLED, charged=False, finished_at=now, error=BANNED_ERROR
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
        async with self.write() as conn:
            await self._existing_user(conn, user_id)
            await conn.execute(update(User).where(User.id == user_id).values(banned=False, ban_reason=None))
            await self._audit(conn, actor, "unban", str(user_id), reason)

    async def _set_paused(self, paused: bool, actor: str) -> bool:
        """Returns whether the state changed."""
        async with self.write() as conn:
            changed = (
                await conn.execute(
                    update(QueueState)
                    .where(QueueState.id == 1, QueueState.paused.is_(not paused))
                    .values(paused=paused, updated_at=self.now())
                    .returning(QueueState.id)
                )
            ).first() is not None
            await self._audit(conn, actor, "pause" if paused else "resume", "queue")
            if not paused:
                await self.notify(conn)
        if not paused:
            self.wake_local()
        return changed

    async def pause(self, *, actor: str) -> bool:
        """Stop new jobs from being accepted and queued jobs from starting; running jobs finish."""
        return await self._set_paused(True, actor)

    async def resume(self, *, actor: str) -> bool:
        return await self._set_paused(False, actor)

    async def is_paused(self) -> bool:
        async with self.read() as conn:
            return bool(
                (await conn.execute(select(QueueState.paused).where(QueueState.id == 1))).scalar_one()
            )

    async def stats(self) -> QueueStats:
        """Jobs by status (every status listed), stored images, and jobs charged since 00:00 UTC."""
        async with self.read() as conn:
            by_status = {s.value: 0 for s in JobStatus}
            for status, n in await conn.execute(select(Job.status, func.count()).group_by(Job.status)):
                by_status[JobStatus(status).value] = int(n)
            images = (await conn.execute(select(func.count()).select_from(JobImage))).scalar_one()
            charged = (
                await conn.execute(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.charged.is_(True), Job.created_at >= day_start(self.now()))
                )
            ).scalar_one()
        return QueueStats(by_status, int(images), int(charged))

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(
                    AdminAudit.at, AdminAudit.actor, AdminAudit.action, AdminAudit.target, AdminAudit.reason
                )
                .order_by(AdminAudit.id.desc())
                .limit(limit)
            )
            return [AuditEntry(r.at, r.actor, r.action, r.target, r.reason) for r in rows]
