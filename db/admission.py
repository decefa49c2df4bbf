"""Admission: turning enqueue requests into jobs, exactly within every limit, with group commit.

Concurrent `enqueue` calls in one process are gathered and admitted together in one write transaction
(group commit): a burst of /imagine commands costs one transaction, not one each. Inside it, each request
is still decided on its own, in arrival order, against counts that include the requests admitted before
it — all or nothing per request — so the limits hold exactly.

Exactness across processes: the transaction first locks the row of every user in the group (one
`INSERT … ON CONFLICT DO UPDATE … RETURNING`, in user id order so two processes cannot deadlock) and
only then counts, in a new statement — on PostgreSQL, under READ COMMITTED, that statement sees whatever
the previous lock holder committed. SQLite needs no row locks: the transaction is `BEGIN IMMEDIATE`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.core import Clock, day_start, next_reset
from db.errors import Banned, QueueFull, QueuePaused, QueueRefusal, QuotaExceeded, SourceImageMissing
from db.models import Job, JobImage, QueueState, User, UTCDateTime
from db.quota import QuotaOps, Usage, UserRow
from imaginebot.core.config import Settings
from imaginebot.core.domain import JobStatus

log = logging.getLogger(__name__)

MAX_GROUP = 256  # requests admitted in one transaction at most


@dataclass
class Request:
    user_id: int
    rows: list[dict[str, Any]]
    parent: tuple[str, int] | None
    now: datetime
    future: asyncio.Future[list[dict[str, Any]]] = field(repr=False)


class AdmissionOps(QuotaOps):
    def __init__(self, engine: AsyncEngine, settings: Settings, *, clock: Clock | None = None) -> None:
        super().__init__(engine, settings, clock=clock)
        self._pending: list[Request] = []
        self._admitter: asyncio.Task[None] | None = None

    async def _admit(
        self, request_rows: list[dict[str, Any]], user_id: int, parent: tuple[str, int] | None, now: datetime
    ) -> list[dict[str, Any]]:
        """Hand the request to the admitter task and wait for its decision (the rows, or a QueueRefusal).

        A caller cancelled while waiting may still have its jobs admitted (like a cancellation that comes
        just after a commit); their delivery target still gets the result.
        """
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._pending.append(Request(user_id, request_rows, parent, now, future))
        if self._admitter is None or self._admitter.done():
            self._admitter = asyncio.create_task(self._admit_pending(), name="imaginebot-admission")
        return await future

    async def _admit_pending(self) -> None:
        while self._pending:
            group = [r for r in self._pending[:MAX_GROUP] if not r.future.done()]
            del self._pending[:MAX_GROUP]
            if not group:
                continue
            try:
                outcomes = await self._admit_group(group)
            except Exception as exc:  # the transaction failed: nothing was admitted
                for r in group:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            for r, outcome in zip(group, outcomes, strict=True):
                if r.future.done():
                    continue
                if isinstance(outcome, QueueRefusal):
                    r.future.set_exception(outcome)
                else:
                    r.future.set_result(outcome)
            if any(not isinstance(o, QueueRefusal) for o in outcomes):
                self.wake_local()

    async def _admit_group(self, group: list[Request]) -> list[list[dict[str, Any]] | QueueRefusal]:
        now = max(r.now for r in group)
        outcomes: list[list[dict[str, Any]] | QueueRefusal] = []
        async with self.write() as conn:
            users = await self._lock_users(conn, sorted({r.user_id for r in group}), now)
            usage, paused = await self._usage_many(conn, users, now)
            admitted: list[dict[str, Any]] = []
            for r in group:
                try:
                    self._decide(users[r.user_id], usage[r.user_id], paused, len(r.rows), r.now)
                    if r.parent is not None:
                        await self._check_source(conn, r.parent)
                except QueueRefusal as refusal:
                    outcomes.append(refusal)
                    continue
                u = usage[r.user_id]
                usage[r.user_id] = Usage(
                    u.used_today + len(r.rows), u.queued + len(r.rows), u.running, paused
                )
                admitted += r.rows
                outcomes.append(r.rows)
            if admitted:
                await conn.execute(self.insert(Job), admitted)
                await self.notify(conn)
        return outcomes

    def _decide(self, user: UserRow, usage: Usage, paused: bool, n: int, now: datetime) -> None:
        if user.banned:
            raise Banned(user.ban_reason)
        if paused:
            raise QueuePaused()
        limit = self.limit_for(user)
        if usage.used_today + n > limit:
            raise QuotaExceeded(usage.used_today, limit, n, next_reset(now))
        if usage.queued + n > self.settings.quota.max_queued:
            raise QueueFull(usage.queued, self.settings.quota.max_queued, n)

    async def _check_source(self, conn: AsyncConnection, parent: tuple[str, int]) -> None:
        stmt = select(JobImage.job_id).where(JobImage.job_id == parent[0], JobImage.index == parent[1])
        if (await conn.execute(stmt)).first() is None:
            raise SourceImageMissing(*parent)

    async def _usage_many(
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

        stmt = select(
            User.id,
            count(Job.charged.is_(True), Job.created_at >= since).label("used"),
            count(Job.status == JobStatus.QUEUED).label("queued"),
            count(Job.status == JobStatus.RUNNING).label("running"),
            select(QueueState.paused).where(QueueState.id == 1).scalar_subquery().label("paused"),
        ).where(User.id.in_(list(users)))
        rows = (await conn.execute(stmt)).all()
        paused = bool(rows[0].paused) if rows else False
        return {r.id: Usage(int(r.used), int(r.queued), int(r.running), paused) for r in rows}, paused
