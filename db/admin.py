"""Admin actions (`/admin` and `imaginebot admin`): quotas, bans, cancelling jobs, pause/resume.

Every action takes `guild_id`: None is an operator's action, everywhere (the user's global quota and ban,
the whole queue); a guild id is a guild moderator's, on that guild only (a per-guild limit that can only
lower the global one, a per-guild ban, a guild pause, that guild's jobs). Every change is written to
`admin_audit` in the same transaction as the change itself, with the guild in its target.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import RELEASED, Database
from db.errors import JobNotFound, UserNotFound
from db.guilds import Guilds
from db.models import AdminAudit, Job, JobPreview, QueueState, Strike, User
from db.quota import Quotas
from db.records import CancelOutcome, QuotaInfo
from imaginebot.core.domain import Failure, JobStatus
from imaginebot.core.gpu_time import MAX_GPU_MINUTES


class Admin:
    """The operator's role: change users' quotas and bans, cancel jobs, pause and resume the queue."""

    def __init__(self, database: Database, quotas: Quotas, guilds: Guilds) -> None:
        self._db = database
        self._quotas = quotas
        self._guilds = guilds

    async def _existing_user(self, conn: AsyncConnection, user_id: int) -> None:
        if await self._quotas.user(conn, user_id) is None:
            raise UserNotFound(user_id)

    async def quota_set(
        self,
        user_id: int,
        daily_limit: int | None,
        *,
        actor: str,
        guild_id: int | None = None,
        fast_gpu_minutes: float | None = None,
    ) -> QuotaInfo:
        """Override the user's daily job limit and/or Fast GPU minutes a day (0: unlimited); creates the
        user's row if they never used the bot. With `guild_id`, that guild's job limit for them, which
        counts their jobs there and only lowers the global (Fast time is global only)."""
        if daily_limit is None and fast_gpu_minutes is None:
            raise ValueError("give a daily job limit, GPU minutes, or both")
        if daily_limit is not None and daily_limit < 0:
            raise ValueError(f"daily limit must be 0 or more, not {daily_limit}")
        if fast_gpu_minutes is not None and not 0 <= fast_gpu_minutes <= MAX_GPU_MINUTES:
            raise ValueError(f"GPU minutes must be from 0 to {MAX_GPU_MINUTES}, not {fast_gpu_minutes}")
        if fast_gpu_minutes is not None and guild_id is not None:
            raise ValueError("GPU minutes are set for every guild at once: leave out the guild")
        async with self._db.write() as conn:
            await self._quotas.lock_user(conn, user_id, self._db.now())
            values: dict[str, object] = {}
            if daily_limit is not None and guild_id is not None:
                await self._guilds.set_member(conn, guild_id, user_id, daily_limit=daily_limit)
            elif daily_limit is not None:
                values["daily_limit"] = daily_limit
            if fast_gpu_minutes is not None:
                values["fast_gpu_minutes"] = fast_gpu_minutes
            if values:
                await conn.execute(update(User).where(User.id == user_id).values(**values))
            detail = [] if daily_limit is None else [str(daily_limit)]
            if fast_gpu_minutes is not None:
                detail.append(f"gpu_minutes={fast_gpu_minutes:g}")
            await audit(
                self._db, conn, actor, "quota_set", _target(user_id, guild_id), " ".join(detail),
                user_id=user_id, guild_id=guild_id,
            )
            return await self._info(conn, user_id, guild_id)

    async def _info(self, conn: AsyncConnection, user_id: int, guild_id: int | None) -> QuotaInfo:
        user = await self._quotas.user(conn, user_id)
        return await self._guilds.quota(conn, self._quotas, user_id, user, guild_id)

    async def quota_reset(self, user_id: int, *, actor: str, guild_id: int | None = None) -> QuotaInfo:
        """Forget the user's limit override and today's usage; with `guild_id`, only that guild's limit for
        them (their usage stays). Raises UserNotFound."""
        async with self._db.write() as conn:
            await self._existing_user(conn, user_id)
            if guild_id is None:
                await conn.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(daily_limit=None, fast_gpu_minutes=None, quota_reset_at=self._db.now())
                )
            else:
                await self._guilds.set_member(conn, guild_id, user_id, daily_limit=None)
            await audit(
                self._db, conn, actor, "quota_reset", _target(user_id, guild_id),
                user_id=user_id, guild_id=guild_id,
            )
            return await self._info(conn, user_id, guild_id)

    async def ban(self, user_id: int, *, reason: str = "", actor: str, guild_id: int | None = None) -> int:
        """Ban the user (creating their row if needed) and cancel their queued jobs, refunded; with
        `guild_id`, from that guild only (also someone who never used the bot, in advance), cancelling
        only the jobs they made there.

        Running jobs finish. Returns how many queued jobs were cancelled.
        """
        now = self._db.now()
        queued = [Job.user_id == user_id, Job.status == JobStatus.QUEUED]
        async with self._db.write() as conn:
            await self._quotas.lock_user(conn, user_id, now)
            if guild_id is None:
                await conn.execute(
                    update(User).where(User.id == user_id).values(banned=True, ban_reason=reason or None)
                )
            else:
                await self._guilds.set_member(conn, guild_id, user_id, banned=True, ban_reason=reason or None)
                queued.append(Job.guild_id == guild_id)
            cancelled = (
                (
                    await conn.execute(
                        update(Job)
                        .where(*queued)
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
            await audit(
                self._db, conn, actor, "ban", _target(user_id, guild_id), reason,
                user_id=user_id, guild_id=guild_id,
            )
        return len(cancelled)

    async def unban(
        self, user_id: int, *, reason: str = "", actor: str, guild_id: int | None = None
    ) -> None:
        """Lift a ban; with `guild_id`, only that guild's (a global ban stays). The member's moderation
        strikes in that scope are forgotten too (a fresh start, see db.moderation). Raises UserNotFound."""
        async with self._db.write() as conn:
            if guild_id is None:
                await self._existing_user(conn, user_id)
                await conn.execute(
                    update(User).where(User.id == user_id).values(banned=False, ban_reason=None)
                )
            else:
                if await self._guilds.member(conn, guild_id, user_id) is None:
                    raise UserNotFound(user_id)
                await self._guilds.set_member(conn, guild_id, user_id, banned=False, ban_reason=None)
            scope = 0 if guild_id is None else guild_id  # db.moderation.GLOBAL
            await conn.execute(delete(Strike).where(Strike.guild_id == scope, Strike.user_id == user_id))
            await audit(
                self._db, conn, actor, "unban", _target(user_id, guild_id), reason,
                user_id=user_id, guild_id=guild_id,
            )

    async def cancel(
        self,
        job_id: str,
        *,
        actor: str | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
    ) -> CancelOutcome:
        """Cancel a job, refunded. Queued: cancelled. Running: cancelled too (its worker notices within about
        a second, stops and drops the results). `user_id` restricts the
        cancel to that user's own job, `guild_id` to that guild's jobs (JobNotFound otherwise: a moderator
        learns nothing of other guilds' jobs); `actor` (an admin) is written to the audit log."""
        now = self._db.now()
        mine = and_(
            Job.id == job_id,
            Job.user_id == user_id if user_id is not None else true(),
            Job.guild_id == guild_id if guild_id is not None else true(),
        )
        async with self._db.write() as conn:
            found = (await conn.execute(select(Job.user_id, Job.guild_id).where(mine))).first()
            if found is None:
                raise JobNotFound(job_id)
            ended = {"status": JobStatus.CANCELLED, "finished_at": now, "charged": False, **RELEASED}
            outcome = CancelOutcome.ALREADY_FINISHED
            stmt = update(Job).where(mine, Job.status == JobStatus.QUEUED).values(**ended)
            if (await conn.execute(stmt.returning(Job.id))).first() is not None:
                outcome = CancelOutcome.REFUNDED
            else:
                stmt = update(Job).where(mine, Job.status == JobStatus.RUNNING).values(**ended)
                if (await conn.execute(stmt.returning(Job.id))).first() is not None:
                    outcome = CancelOutcome.STOPPING
            if outcome is not CancelOutcome.ALREADY_FINISHED:
                await conn.execute(delete(JobPreview).where(JobPreview.job_id == job_id))
            if actor is not None:
                owner, guild = found.user_id, found.guild_id
                await audit(
                    self._db, conn, actor, "cancel", job_id, outcome.value, user_id=owner, guild_id=guild
                )
        return outcome

    async def _set_paused(self, paused: bool, actor: str, guild_id: int | None) -> bool:
        """Returns whether the state changed."""
        if guild_id is not None:
            async with self._db.write() as conn:
                changed = await self._guilds.set_paused(conn, guild_id, paused)
                action = "pause" if paused else "resume"
                await audit(self._db, conn, actor, action, f"guild:{guild_id}", guild_id=guild_id)
            return changed
        async with self._db.write() as conn:
            changed = (
                await conn.execute(
                    update(QueueState)
                    .where(QueueState.id == 1, QueueState.paused.is_(not paused))
                    .values(paused=paused, updated_at=self._db.now())
                    .returning(QueueState.id)
                )
            ).first() is not None
            await audit(self._db, conn, actor, "pause" if paused else "resume", "queue")
            if not paused:
                await self._db.notify(conn)
        if not paused:
            self._db.wake_local()
        return changed

    async def pause(self, *, actor: str, guild_id: int | None = None) -> bool:
        """Refuse new jobs everywhere (queued and running jobs still run); with `guild_id`, only new jobs
        from that guild."""
        return await self._set_paused(True, actor, guild_id)

    async def resume(self, *, actor: str, guild_id: int | None = None) -> bool:
        return await self._set_paused(False, actor, guild_id)


async def audit(
    database: Database,
    conn: AsyncConnection,
    actor: str,
    action: str,
    target: str,
    reason: str = "",
    *,
    user_id: int | None = None,
    guild_id: int | None = None,
) -> None:
    """Write one audit row in the caller's transaction (also used by db.moderation)."""
    await conn.execute(
        database.insert(AdminAudit).values(
            at=database.now(), actor=actor, action=action, target=target, reason=reason,
            user_id=user_id, guild_id=guild_id,
        )
    )


def _target(user_id: int, guild_id: int | None) -> str:
    """An audit row's target: the user, and the guild when the action was scoped to one."""
    return str(user_id) if guild_id is None else f"{user_id}@guild:{guild_id}"
