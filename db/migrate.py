"""Migrations, run programmatically on the configured database (`imaginebot db upgrade|current|downgrade`),
and the schema check `run` and `worker` do before they start (`check_schema`).

The Alembic environment lives in `db/migrations` (shipped as package data), so this works from any
working directory and on an installed package.
"""

from __future__ import annotations

import asyncio
import weakref
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.session import SchemaOutdated, create_engine, ping, writer

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 0x1A9B07  # any constant; names imaginebot's migration lock among advisory locks


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def script_heads() -> set[str]:
    return set(script_directory().get_heads())


def _all_revisions() -> list[str]:
    return [rev.revision for rev in script_directory().walk_revisions()]


async def current_revisions(conn: AsyncConnection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    def read(sync_conn: Connection) -> set[str]:
        return set(MigrationContext.configure(sync_conn).get_current_heads())

    return await conn.run_sync(read)


async def check_schema(engine: AsyncEngine) -> None:
    """Raise SchemaOutdated unless the database is at this code's migration head.

    Raises DatabaseUnavailable (one line) when the database cannot be reached at all.
    """
    await ping(engine)
    async with engine.connect() as conn:
        current = await current_revisions(conn)
    heads = script_heads()
    if current == heads:
        return
    unknown = current - set(_all_revisions())
    if unknown:
        raise SchemaOutdated(
            f"the database schema ({', '.join(sorted(unknown))}) is newer than this imaginebot: "
            "upgrade imaginebot, or run `imaginebot db downgrade` with the newer version"
        )
    raise SchemaOutdated()


async def upgrade_schema(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database behind `engine` (for the embedded SQLite default, which needs no separate
    `imaginebot db upgrade` step). Raises DatabaseUnavailable when it cannot be reached."""
    await ping(engine)
    await upgrade_engine(engine, revision)


# Alembic keeps its migration context in module globals, so two migrations interleaved on one event loop
# (greenlets of different connections) would run through each other's context: one at a time per process.
# Across processes the database serialises them (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL).
_IN_PROCESS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _run(engine: AsyncEngine, action: str, revision: str) -> None:
    lock = _IN_PROCESS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        await _run_locked(engine, action, revision)


async def _run_locked(engine: AsyncEngine, action: str, revision: str) -> None:
    async with writer(engine).begin() as conn:
        if engine.dialect.name == "postgresql":  # concurrent upgraders wait here, then find nothing to do
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})

        def run(sync_conn: Connection) -> None:
            cfg = alembic_config(sync_conn)
            if action == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)

        await conn.run_sync(run)


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind an open engine (one transaction; concurrent upgraders serialise)."""
    await _run(engine, "upgrade", revision)


async def _apply(url: str, action: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        await ping(engine)
        await _run(engine, action, revision)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _apply(url, "upgrade", revision)


async def downgrade(url: str, revision: str) -> None:
    await _apply(url, "downgrade", revision)


async def current(url: str) -> set[str]:
    """The database's revision(s); empty for a database that was never migrated."""
    engine = create_engine(url)
    try:
        await ping(engine)
        async with engine.connect() as conn:
            return await current_revisions(conn)
    finally:
        await engine.dispose()
