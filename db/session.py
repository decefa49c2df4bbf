"""Engines and how they open transactions. (The schema check is in db/migrate.py.)

SQLite (the embedded default): every connection gets WAL journaling (readers never block the writer),
a busy timeout (writers wait instead of failing), foreign keys and synchronous=NORMAL (durable across a
process crash; WAL + NORMAL may lose the last commit on power loss, the usual trade). Python's sqlite3
transaction handling is switched off and SQLAlchemy emits BEGIN itself: `BEGIN IMMEDIATE` on the write
engine (`writer(engine)`), so a write transaction holds the write lock from its first statement and
read-then-write checks (quota!) cannot race; plain `BEGIN` for reads.

PostgreSQL: asyncpg with a connection pool; writers lock what they decide on (`SELECT … FOR UPDATE`,
`FOR UPDATE SKIP LOCKED`), so the execution option is ignored there.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from imaginebot.core.config import DatabaseSettings

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
_WRITE_OPTION = "imaginebot_write"


class DatabaseError(Exception):
    """A database problem worded for the operator (one line): unreachable, or at the wrong schema."""


class SchemaOutdated(DatabaseError):
    """The database's schema revision is not this code's: `run` and `worker` refuse to start."""

    def __init__(self, message: str = "the database schema is out of date: run `imaginebot db upgrade`"):
        super().__init__(message)


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached or opened; the message is one line for the operator."""


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def create_engine(url: str | DatabaseSettings, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url` (sqlite+aiosqlite or postgresql+asyncpg, or the `database` settings)
    with the settings above. Raises DatabaseUnavailable for a URL it cannot use."""
    if isinstance(url, DatabaseSettings):
        echo = url.echo or echo
        url = url.url
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:") or (parsed.database or "").startswith(
                "file::memory:"
            ):
                raise DatabaseUnavailable(
                    f"cannot use database URL {url!r}: an in-memory SQLite database is private to one "
                    "connection; use a file, e.g. sqlite+aiosqlite:///imaginebot.db"
                )
            engine = create_async_engine(parsed, echo=echo, pool_size=pool_size, max_overflow=20)
            _sqlite_pragmas(engine)
            return engine
        engine = create_async_engine(
            parsed,
            echo=echo,
            pool_size=pool_size,
            max_overflow=20,
            pool_pre_ping=True,
            connect_args={"timeout": PG_CONNECT_TIMEOUT_S},
        )
        # Many-row INSERTs without RETURNING (a group of jobs, a batch's images) as multi-row VALUES
        # statements, as SQLAlchemy does for psycopg2, instead of one server-side execution per row:
        # ~15 % less CPU for enqueue → claim → complete on a 2-core machine (benchmarks/RESULTS.md).
        engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True
        return engine
    except (ArgumentError, TypeError, ValueError, ImportError) as exc:
        raise DatabaseUnavailable(f"cannot use database URL {safe_url(url)}: {exc}") from None


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        for pragma in (
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _switch_to_wal(cursor: Any) -> None:
    """WAL mode (persistent in the file). Connections opening a new database at once all try to switch
    it, which takes an exclusive lock; SQLite answers a would-be deadlock with "database is locked" at
    once, without waiting, so retry briefly until one of them has switched it."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3.OperationalError, as the driver adapter re-raises it
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, whose transactions start with `BEGIN IMMEDIATE` on SQLite."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def describe_error(exc: BaseException) -> str:
    """The first line of a driver error's own message, without SQLAlchemy's statement dump."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text_ = str(inner).strip().splitlines()
    first = text_[0] if text_ else type(inner).__name__
    return first.removeprefix("(sqlite3.OperationalError) ")


async def ping(engine: AsyncEngine) -> None:
    """Open a connection and run `SELECT 1`; raise DatabaseUnavailable with one line on failure."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        raise DatabaseUnavailable(
            f"cannot connect to the database {safe_url(str(engine.url))}: {describe_error(exc)}"
        ) from None
    except Exception as exc:  # asyncpg raises its own exception types for auth and protocol errors
        raise DatabaseUnavailable(
            f"cannot connect to the database {safe_url(str(engine.url))}: {type(exc).__name__}: {exc}"
        ) from None
