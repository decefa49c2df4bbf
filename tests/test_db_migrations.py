"""Migrations and the schema check, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect

from db import migrate
from db.migrate import check_schema, upgrade_schema
from db.session import DatabaseUnavailable, SchemaOutdated, create_engine

TABLES = {
    "users", "jobs", "job_images", "job_previews", "admin_audit", "queue_state", "guilds", "guild_members",
    "workers", "job_inputs", "banned_words", "strikes", "alembic_version",
    "job_thumbnails", "web_keys", "share_revocations",  # 0011: the web gallery
}  # fmt: skip


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_and_downgrade_to_base_and_back(empty_db_url: str) -> None:
    assert await migrate.current(empty_db_url) == set()
    await migrate.upgrade(empty_db_url)
    assert await _tables(empty_db_url) == TABLES
    assert await migrate.current(empty_db_url) == migrate.script_heads()
    await migrate.downgrade(empty_db_url, "base")
    assert await _tables(empty_db_url) <= {"alembic_version"}
    await migrate.upgrade(empty_db_url)
    assert await _tables(empty_db_url) == TABLES


async def test_schema_check_refuses_an_outdated_database(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        with pytest.raises(
            SchemaOutdated, match=r"the database schema is out of date: run `imaginebot db upgrade`"
        ):
            await check_schema(engine)
        await migrate.upgrade(empty_db_url)
        await check_schema(engine)
    finally:
        await engine.dispose()


async def test_schema_check_reports_an_unreachable_server_in_one_line() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@/nodb?host=/nonexistent-socket-dir")
    try:
        with pytest.raises(DatabaseUnavailable) as err:
            await check_schema(engine)
    finally:
        await engine.dispose()
    assert "\n" not in str(err.value) and "cannot connect to the database" in str(err.value)


BAD_URLS = {
    "sqlite": "sqlite+aiosqlite:////nonexistent-dir/imaginebot.db",
    "postgresql": "postgresql+asyncpg://nobody@127.0.0.1:9/imaginebot",
}


def test_cli_bad_database_url_gives_one_clear_line(tmp_path, db_backend: str) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    env = {"PATH": "/usr/bin:/bin", "IMAGINEBOT_DATABASE__URL": BAD_URLS[db_backend]}
    proc = subprocess.run(
        [sys.executable, "-m", "imaginebot.app.cli", "admin", "queue", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert (
        lines[0].startswith("imaginebot: cannot connect to the database ") and "Traceback" not in proc.stderr
    )
    assert proc.stdout == ""


async def test_upgrade_schema_on_an_open_engine_is_idempotent_under_concurrency(empty_db_url: str) -> None:
    import asyncio

    engines = [create_engine(empty_db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_schema(e) for e in engines))
        await upgrade_schema(engines[0])
        await check_schema(engines[0])
    finally:
        for e in engines:
            await e.dispose()


async def test_failure_column_comes_and_goes_keeping_the_rows(empty_db_url: str) -> None:
    """0002 adds `jobs.failure` to a database with jobs; downgrading to 0001 drops it again without
    touching the jobs or their images (no table is copied, so no ON DELETE CASCADE fires)."""
    from datetime import UTC, datetime

    from sqlalchemy import func, insert, select

    from db.models import Job, JobImage, User

    now = datetime(2026, 11, 24, tzinfo=UTC)
    await migrate.upgrade(empty_db_url, "0001")
    engine = create_engine(empty_db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(User).values(id=1, banned=False, settings={}, created_at=now))
            await conn.execute(
                insert(Job).values(
                    id="old",
                    user_id=1,
                    kind="imagine",
                    status="failed",
                    model="tiny",
                    spec={},
                    seed=1,
                    batch_key="[]",
                    image_count=4,
                    attempts=1,
                    progress=0,
                    error="A sentence.",
                    charged=False,
                    created_at=now,
                    delivery_attempts=0,
                )
            )
            await conn.execute(
                insert(JobImage).values(job_id="old", index=1, png=b"png", width=8, height=8, created_at=now)
            )
        await migrate.upgrade(empty_db_url)
        async with engine.connect() as conn:
            row = (await conn.execute(select(Job.failure, Job.error).where(Job.id == "old"))).one()
        assert (row.failure, row.error) == (None, "A sentence.")
        await migrate.downgrade(empty_db_url, "0001")
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("jobs")})
            images = (await conn.execute(select(func.count()).select_from(JobImage))).scalar_one()
        assert "failure" not in columns and "error" in columns and images == 1
    finally:
        await engine.dispose()


async def test_edit_kinds_come_and_go_keeping_the_other_jobs(empty_db_url: str) -> None:
    """0005 widens jobs.kind (SQLite: in place, no table copy) on a database with jobs and images: they
    stay; an edit job can then be stored; downgrading removes only the edit jobs, and the narrower
    constraint holds again."""
    from datetime import UTC, datetime

    from sqlalchemy import func, insert, select
    from sqlalchemy.exc import IntegrityError

    from db.models import Job, JobImage, User

    now = datetime(2026, 12, 2, tzinfo=UTC)

    def job(job_id: str, kind: str) -> dict:
        return dict(
            id=job_id, user_id=1, kind=kind, status="succeeded", model="tiny", spec={}, seed=1,
            batch_key="[]", image_count=4, attempts=1, progress=100, charged=True, created_at=now,
            delivery_attempts=0,
        )

    await migrate.upgrade(empty_db_url, "0004")
    engine = create_engine(empty_db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(User).values(id=1, banned=False, settings={}, created_at=now))
            await conn.execute(insert(Job).values(**job("old", "imagine")))
            await conn.execute(
                insert(JobImage).values(job_id="old", index=1, png=b"png", width=8, height=8, created_at=now)
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(Job).values(**job("early", "zoom_out")))
        await migrate.upgrade(empty_db_url)
        async with engine.begin() as conn:
            zoom = job("zoom", "zoom_out") | {"parent_job_id": "old", "parent_index": 1, "edit": {"zoom": 2}}
            await conn.execute(insert(Job).values(**zoom))
        async with engine.connect() as conn:
            kinds = dict((await conn.execute(select(Job.id, Job.kind))).all())
            images = (await conn.execute(select(func.count()).select_from(JobImage))).scalar_one()
        assert {k: v.value for k, v in kinds.items()} == {"old": "imagine", "zoom": "zoom_out"}
        assert images == 1
        await migrate.downgrade(empty_db_url, "0004")
        async with engine.connect() as conn:
            ids = set((await conn.execute(select(Job.id))).scalars())
            images = (await conn.execute(select(func.count()).select_from(JobImage))).scalar_one()
        assert ids == {"old"} and images == 1
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(Job).values(**job("late", "pan")))
    finally:
        await engine.dispose()
