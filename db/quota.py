"""Daily quotas and per-user limits: the counting that admission, admin and reads all need.

Usage is counted, not stored: a user's usage today is the number of their jobs created since the later of
00:00 UTC and their last `quota reset` that are still `charged`. A refund is `charged = false`, so it is
an idempotent single-row update and can never be applied twice.

`Quotas` is a component the roles hold, not a role: every method runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import Database, day_start, next_reset
from db.models import Job, QueueState, User, UTCDateTime
from db.records import QuotaInfo
from imaginebot.core.domain import JobStatus


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    banned: bool
    ban_reason: str | None
    daily_limit: int | None
    quota_reset_at: datetime | None
    fast_gpu_minutes: float | None = None  # the operators' override of quota.fast_gpu_minutes


_USER_COLUMNS = (
    User.id, User.banned, User.ban_reason, User.daily_limit, User.quota_reset_at, User.fast_gpu_minutes
)


def _user_row(r: Any) -> UserRow:
    return UserRow(r.id, bool(r.banned), r.ban_reason, r.daily_limit, r.quota_reset_at, r.fast_gpu_minutes)


@dataclass(frozen=True, slots=True)
class Usage:
    used_today: int
    queued: int
    running: int
    paused: bool
    fast_seconds: float = 0.0  # Fast time used today: GPU seconds (or reservations) × each job's factor


# A job's Fast time: its measured GPU seconds, or its reservation until then, times its mode's factor.
FAST_SECONDS = func.coalesce(Job.gpu_seconds, Job.gpu_estimate, 0.0) * Job.fast_factor


class Quotas:
    def __init__(self, database: Database) -> None:
        self._db = database

    def limit_for(self, user: UserRow | None) -> int:
        if user is not None and user.daily_limit is not None:
            return user.daily_limit
        return self._db.policy.daily_jobs

    def fast_limit_for(self, user: UserRow | None) -> float:
        """Fast seconds the user may spend today; 0 = unlimited."""
        if user is not None and user.fast_gpu_minutes is not None:
            return user.fast_gpu_minutes * 60.0
        return self._db.policy.fast_gpu_minutes * 60.0

    async def lock_users(
        self, conn: AsyncConnection, user_ids: list[int], now: datetime
    ) -> dict[int, UserRow]:
        """Create missing user rows and lock them (in the given order) until the transaction ends.

        `INSERT … ON CONFLICT DO UPDATE` takes the row locks in one statement on PostgreSQL; a concurrent
        transaction for the same user waits here, and counts only afterwards, in a *new* statement, so it
        sees what the previous holder committed. On SQLite the transaction already holds the write lock.
        """
        # One statement whatever the number of users: executemany + RETURNING is sent as one multi-row
        # INSERT whose VALUES keep the given order, so the rows are locked in that order. RETURNING's
        # order is not asked for (sort_by_parameter_order would make SQLAlchemy send one INSERT per
        # user, there being no sentinel column for an upsert); the rows are matched by id.
        stmt = (
            self._db.insert(User)
            .on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=[User.id], set_={"banned": User.__table__.c.banned}
            )
            .returning(*_USER_COLUMNS)
        )
        params = [{"id": u, "banned": False, "settings": {}, "created_at": now} for u in user_ids]
        rows = (await conn.execute(stmt, params)).all()
        return {r.id: _user_row(r) for r in rows}

    async def lock_user(self, conn: AsyncConnection, user_id: int, now: datetime) -> UserRow:
        return (await self.lock_users(conn, [user_id], now))[user_id]

    async def user(self, conn: AsyncConnection, user_id: int) -> UserRow | None:
        row = (
            await conn.execute(
                select(*_USER_COLUMNS).where(User.id == user_id)
            )
        ).one_or_none()
        if row is None:
            return None
        return _user_row(row)

    @staticmethod
    def since(user: UserRow | None, now: datetime) -> datetime:
        start = day_start(now)
        if user is not None and user.quota_reset_at is not None and user.quota_reset_at > start:
            return user.quota_reset_at
        return start

    async def _usage(self, conn: AsyncConnection, user_id: int, since: datetime) -> Usage:
        def count(*where: ColumnElement[bool]) -> ScalarSelect[int]:
            return (
                select(func.count()).select_from(Job).where(Job.user_id == user_id, *where).scalar_subquery()
            )

        fast = (
            select(func.coalesce(func.sum(FAST_SECONDS), 0.0))
            .where(Job.user_id == user_id, Job.charged.is_(True), Job.created_at >= since)
            .scalar_subquery()
        )
        stmt = select(
            count(Job.charged.is_(True), Job.created_at >= since).label("used"),
            count(Job.status == JobStatus.QUEUED).label("queued"),
            count(Job.status == JobStatus.RUNNING).label("running"),
            select(QueueState.paused).where(QueueState.id == 1).scalar_subquery().label("paused"),
            fast.label("fast"),
        )
        row = (await conn.execute(stmt)).one()
        return Usage(int(row.used), int(row.queued), int(row.running), bool(row.paused), float(row.fast))

    async def usage_many(
        self, conn: AsyncConnection, users: dict[int, UserRow], now: datetime
    ) -> tuple[dict[int, Usage], bool]:
        """Today's charged jobs, queued and running jobs of each user, and the paused flag, in one query."""
        day = literal(day_start(now), UTCDateTime())
        since = case(
            (and_(User.quota_reset_at.is_not(None), User.quota_reset_at > day), User.quota_reset_at),
            else_=day,
        )

        def count(*where: Any) -> Any:
            return (
                select(func.count()).select_from(Job).where(Job.user_id == User.id, *where).scalar_subquery()
            )

        fast = (
            select(func.coalesce(func.sum(FAST_SECONDS), 0.0))
            .where(Job.user_id == User.id, Job.charged.is_(True), Job.created_at >= since)
            .scalar_subquery()
        )
        stmt = select(
            User.id,
            count(Job.charged.is_(True), Job.created_at >= since).label("used"),
            count(Job.status == JobStatus.QUEUED).label("queued"),
            count(Job.status == JobStatus.RUNNING).label("running"),
            select(QueueState.paused).where(QueueState.id == 1).scalar_subquery().label("paused"),
            fast.label("fast"),
        ).where(User.id.in_(list(users)))
        rows = (await conn.execute(stmt)).all()
        paused = bool(rows[0].paused) if rows else False
        usage = {r.id: Usage(int(r.used), int(r.queued), int(r.running), paused, float(r.fast)) for r in rows}
        return usage, paused

    async def info(self, conn: AsyncConnection, user_id: int, user: UserRow | None) -> QuotaInfo:
        """The user's quota today as /info and `admin quota show` report it."""
        now = self._db.now()
        usage = await self._usage(conn, user_id, self.since(user, now))
        limit = self.limit_for(user)
        return QuotaInfo(
            user_id=user_id,
            daily_limit=limit,
            used_today=usage.used_today,
            left_today=max(0, limit - usage.used_today),
            queued=usage.queued,
            running=usage.running,
            banned=bool(user and user.banned),
            resets_at=next_reset(now),
            ban_reason=user.ban_reason if user else None,
            limit_overridden=bool(user and user.daily_limit is not None),
            fast_limit_seconds=self.fast_limit_for(user),
            fast_used_seconds=usage.fast_seconds,
            fast_overridden=bool(user and user.fast_gpu_minutes is not None),
        )
