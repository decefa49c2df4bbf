"""One database as the queue's roles share it: the engine, transactions, the clock and wake-ups.

Every role of a `Queue` (admission, lifecycle, outbox, admin, reads) holds the same `Database`, so they
share one connection pool, one SQLite write lock and one set of in-process waiters: an enqueue wakes the
embedded worker waiting in `Lifecycle.wakeup()` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Insert, Interval, RowMapping, Table, func, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.models import Base, Job, UTCDateTime
from db.policy import QueuePolicy
from db.session import writer

NOTIFY_CHANNEL = "imaginebot_jobs"
Clock = Callable[[], datetime]

# What ends a job's lease (every transition out of `running` sets these).
RELEASED = {"lease_owner": None, "lease_expires_at": None}

# The columns a JobRecord is built from (everything but the internal batching and lease fields).
JOB_COLUMNS = [c for c in Job.__table__.c if c.name not in ("batch_key", "lease_owner", "lease_expires_at")]


def utc_now() -> datetime:
    return datetime.now(UTC)


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def next_reset(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


class Database:
    def __init__(
        self,
        engine: AsyncEngine,
        policy: QueuePolicy,
        *,
        clock: Clock | None = None,
        lease_clock: Literal["database", "local"] | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.dialect = engine.dialect.name
        # Leases are stamped and judged by one clock: PostgreSQL's (workers on many hosts share it, and
        # host clocks drift); SQLite is one host. A test that drives `clock` drives leases too, unless it
        # asks for the database's clock explicitly.
        if lease_clock is None:
            lease_clock = "database" if self.dialect == "postgresql" and clock is None else "local"
        if lease_clock == "database" and self.dialect != "postgresql":
            raise ValueError("only PostgreSQL has a shared database clock for leases")
        self.db_lease_clock = lease_clock == "database"
        self._writer = writer(engine)
        self._clock = clock or utc_now
        self._waiters: set[asyncio.Event] = set()
        # SQLite allows one writer at a time; writers of this process queue here instead of sleeping in
        # SQLite's busy handler (other processes still wait up to busy_timeout).
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    def now(self) -> datetime:
        return self._clock()

    def relax_before(self, now: datetime) -> datetime:
        """Relax jobs queued before this have waited queue.relax_max_wait: they take their turn."""
        return now - timedelta(seconds=self.policy.relax_max_wait)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.policy.lease_seconds)

    def lease_now(self) -> ColumnElement[datetime]:
        """"Now" for leases, in SQL: the database server's `now()`, or this process's clock."""
        if self.db_lease_clock:
            return func.now()
        return literal(self.now(), UTCDateTime())

    def lease_ago(self, seconds: float) -> ColumnElement[datetime]:
        """That many seconds before now, by the leases' clock, in SQL."""
        if self.db_lease_clock:
            return func.now() - literal(timedelta(seconds=seconds), Interval())
        return literal(self.now() - timedelta(seconds=seconds), UTCDateTime())

    def lease_until(self) -> ColumnElement[datetime]:
        """When a lease taken or renewed now expires, in SQL."""
        if self.db_lease_clock:
            return func.now() + literal(self.lease, Interval())
        return literal(self.now() + self.lease, UTCDateTime())

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction (plain BEGIN; never blocks the SQLite writer in WAL mode)."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: BEGIN IMMEDIATE on SQLite, so read-then-write decisions cannot race."""
        if self._write_lock is None:
            async with self._writer.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    def insert(self, table: type[Base] | Table) -> Insert:
        """An INSERT that supports `on_conflict_do_nothing/update` on both backends."""
        tbl: Any = table if isinstance(table, Table) else table.__table__
        if self.dialect == "postgresql":
            return postgresql.insert(tbl)
        return sqlite.insert(tbl)

    async def notify(self, conn: AsyncConnection) -> None:
        """Wake workers once this transaction commits (PostgreSQL NOTIFY; in-process waiters always)."""
        if self.dialect == "postgresql":
            await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))

    def wake_local(self) -> None:
        for event in list(self._waiters):
            event.set()

    def add_waiter(self, event: asyncio.Event) -> None:
        self._waiters.add(event)

    def remove_waiter(self, event: asyncio.Event) -> None:
        self._waiters.discard(event)

    async def job_rows(
        self, conn: AsyncConnection, where: Any, *, order: Any = None, limit: int | None = None
    ) -> Sequence[RowMapping]:
        """Jobs matching `where` as mappings of JOB_COLUMNS (what JobRecord.from_row reads)."""
        stmt = select(*JOB_COLUMNS).where(where)
        if order is not None:
            stmt = stmt.order_by(*order) if isinstance(order, list | tuple) else stmt.order_by(order)
        if limit is not None:
            stmt = stmt.limit(limit)
        return (await conn.execute(stmt)).mappings().all()
