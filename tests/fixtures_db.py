"""Database fixtures: a real SQLite file and the local PostgreSQL server, a fresh migrated database a test.

`db_url` is parametrised over ["sqlite", "postgresql"], so every test that uses it runs on both. The
schema is migrated once per session into a template (a file for SQLite, a template database for
PostgreSQL) and copied per test. PostgreSQL is started here when it is not running (`service postgresql
start`) and a superuser role named after the current login is created; a test never skips PostgreSQL —
if the server cannot be started, the tests fail and say why.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from db import migrate
from db.models import AdminAudit
from db.policy import QueuePolicy
from db.queue import Queue
from imaginebot.core.config import Settings

__all__ = [
    "PG_SOCKET_DIR",
    "SettingsQueue",
    "audit_actions",
    "cli",
    "db_backend",
    "db_url",
    "empty_db_url",
    "in_thread",
    "make_queue",
    "open_queue",
    "pg_admin",
    "pg_template",
    "poll_until",
    "queue",
    "settings_for",
    "spawn_worker",
    "sqlite_template",
    "write_config",
]

PG_SOCKET_DIR = "/var/run/postgresql"
T = TypeVar("T")
TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
TEST_DEFAULTS: dict[str, dict[str, Any]] = {"queue": {"lease_seconds": 2, "poll_interval": 0.05}}


def settings_for(url: str, **sections: dict[str, Any]) -> Settings:
    """Settings on `url` with test defaults (short leases, fast polls) and per-section overrides,
    e.g. settings_for(url, quota={"daily_jobs": 10})."""
    merged: dict[str, Any] = {name: dict(values) for name, values in TEST_DEFAULTS.items()}
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    merged["database"] = {**merged.get("database", {}), "url": url}
    return Settings.model_validate(merged)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table (gen.controlnets)
        return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, url: str, **sections: dict[str, Any]) -> Path:
    """Write a config file for a subprocess: the same values settings_for would give."""
    settings = settings_for(url, **sections).model_dump()
    lines: list[str] = []
    for name, values in settings.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def poll_until(
    check: Callable[[], Awaitable[bool]], *, within: float = 20.0, interval: float = 0.02, what: str = "it"
) -> None:
    """Await `check()` until it is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------------------------- PostgreSQL


def _pg_ready() -> bool:
    """Whether the server accepts connections on the socket (a leftover socket file of a server that is
    down does not count)."""
    res = subprocess.run(["pg_isready", "-q", "-h", PG_SOCKET_DIR], capture_output=True, check=False)
    return res.returncode == 0


def _start_postgresql() -> str:
    """Start the local server unless it is accepting connections, and make sure our login has a superuser
    role."""
    user = getpass.getuser()
    if not _pg_ready():
        run = subprocess.run(["service", "postgresql", "start"], capture_output=True, text=True, check=False)
        deadline = time.monotonic() + 60
        while not _pg_ready():
            if time.monotonic() > deadline:
                pytest.fail(
                    "PostgreSQL is not accepting connections on "
                    f"{PG_SOCKET_DIR} (service postgresql start: {run.stdout}{run.stderr})"
                )
            time.sleep(0.2)
    sql = f'CREATE ROLE "{user}" SUPERUSER LOGIN'
    res = subprocess.run(
        ["su", "postgres", "-c", f"psql -c '{sql}'"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0 and "already exists" not in res.stderr:
        pytest.fail(f"cannot create the PostgreSQL role {user}: {res.stderr.strip()}")
    return user


def in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private event loop in another thread (from sync code that may
    be called while the test session's loop exists)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _pg_execute(user: str, sql: str) -> list[Any]:
    import asyncpg

    deadline = time.monotonic() + 60
    while True:
        try:
            conn = await asyncpg.connect(host=PG_SOCKET_DIR, user=user, database="postgres")
            break
        except (OSError, asyncpg.PostgresError) as exc:  # the server may still be starting up
            if time.monotonic() > deadline:
                pytest.fail(f"cannot connect to PostgreSQL at {PG_SOCKET_DIR}: {exc}")
            await asyncio.sleep(0.2)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_admin() -> Callable[[str], list[Any]]:
    """Run one statement (CREATE/DROP DATABASE) on the server's `postgres` database."""
    user = _start_postgresql()

    def execute(sql: str) -> list[Any]:
        return in_thread(_pg_execute(user, sql))

    _drop_leftovers(execute)
    return execute


def _drop_leftovers(execute: Callable[[str], list[Any]]) -> None:
    """Drop test databases of test sessions that died without cleaning up (their pid is gone)."""
    for row in execute("SELECT datname FROM pg_database WHERE datname LIKE 'imaginebot\\_t%'"):
        parts = row["datname"].split("_")  # imaginebot_{tmpl,test}_<pid>_<hex>
        if len(parts) == 4 and parts[2].isdigit() and not _alive(int(parts[2])):
            execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pg_url(name: str) -> str:
    return f"postgresql+asyncpg://{getpass.getuser()}@/{name}?host={PG_SOCKET_DIR}"


@pytest.fixture(scope="session")
def pg_template(pg_admin: Callable[[str], list[Any]]) -> Iterator[str]:
    name = f"imaginebot_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    in_thread(migrate.upgrade(_pg_url(name)))
    yield name
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------------- SQLite


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    in_thread(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


# --------------------------------------------------------------------------------------------- per test


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fresh_pg(request: pytest.FixtureRequest, template: str | None) -> Iterator[str]:
    admin = request.getfixturevalue("pg_admin")
    name = f"imaginebot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    yield _pg_url(name)
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database at the current schema head."""
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "imaginebot.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    yield from _fresh_pg(request, request.getfixturevalue("pg_template"))


@pytest.fixture
def empty_db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database with no schema at all."""
    if db_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    yield from _fresh_pg(request, None)


class SettingsQueue(Queue):
    """A Queue that keeps the settings it was opened with: worker tests hand `settings.queue` to Worker."""

    settings: Settings


def open_queue(settings: Settings, *, clock: Any = None, lease_clock: Any = None) -> SettingsQueue:
    """The queue `imaginebot` opens for `settings` (its database, under its quota and queue policy)."""
    policy = QueuePolicy.from_settings(settings.quota, settings.queue)
    q = SettingsQueue.open(settings.database, policy, clock=clock, lease_clock=lease_clock)
    q.settings = settings
    return q


@pytest.fixture
async def make_queue(db_url: str) -> AsyncIterator[Callable[..., SettingsQueue]]:
    """make_queue(clock=None, lease_clock=None, **sections) -> Queue on this test's database; closed after
    the test."""
    made: list[Queue] = []

    def make(clock: Any = None, lease_clock: Any = None, **sections: dict[str, Any]) -> SettingsQueue:
        q = open_queue(settings_for(db_url, **sections), clock=clock, lease_clock=lease_clock)
        made.append(q)
        return q

    yield make
    for q in made:
        await q.close()


async def audit_actions(q: Queue) -> list[str]:
    """The actions in the admin audit log, newest first."""
    async with q.database.read() as conn:
        rows = await conn.execute(select(AdminAudit.action).order_by(AdminAudit.id.desc()))
        return list(rows.scalars())


@pytest.fixture
def queue(make_queue: Callable[..., SettingsQueue]) -> SettingsQueue:
    return make_queue()


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """spawn_worker(config_path, seconds=0, steps=4, fail="", worker_id=None, engine_log=None) -> a worker
    process running `python -m fake_engine`: a real worker with the fake engine (its output in
    tmp_path/worker-<n>.log; `engine_log`: FAKE_ENGINE_LOG); killed after the test if still alive."""
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        config: Path,
        *,
        seconds: float = 0.0,
        steps: int = 4,
        fail: str = "",
        worker_id: str | None = None,
        engine_log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")]),
                "FAKE_ENGINE_SECONDS": str(seconds),
                "FAKE_ENGINE_STEPS": str(steps),
                "FAKE_ENGINE_FAIL": fail,
                "FAKE_ENGINE_LOG": str(engine_log or ""),
            }
        )
        env = {k: v for k, v in env.items() if not k.startswith("IMAGINEBOT_")}
        cmd = [
            sys.executable,
            "-m",
            "fake_engine",
            "--config",
            str(config),
        ]
        if worker_id:
            cmd += ["--worker-id", worker_id]
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def cli(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Awaitable[tuple[int, str, str]]]:
    """cli(*argv) -> (exit code, stdout, stderr): `imaginebot …` in-process against this test's database."""
    from imaginebot.app.cli import main

    config = write_config(tmp_path / "config.toml", db_url)

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, "--config", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    return run

