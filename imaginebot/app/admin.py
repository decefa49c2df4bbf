"""`imaginebot worker`, `imaginebot db …`, `imaginebot admin …` and `imaginebot jobs`.

Every failure an operator can cause or fix — a bad configuration, an unreachable database, an outdated
schema, an unknown user or job — is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from db import migrate
from db.errors import NotFound
from db.queue import CancelOutcome, JobRecord, Queue, QueueStats, QuotaInfo
from db.session import DatabaseUnavailable, SchemaOutdated, check_schema, describe_error, safe_url
from imaginebot.core.config import ConfigError, Settings, load_settings
from imaginebot.core.domain import AsyncEngine, JobStatus

PROMPT_WIDTH = 48


def _fail(message: str) -> int:
    print(f"imaginebot: {message}", file=sys.stderr)
    return 2


def _guarded(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(work())
    except (ConfigError, DatabaseUnavailable, SchemaOutdated, NotFound) as exc:
        return _fail(str(exc))
    except (OSError, SQLAlchemyError) as exc:
        return _fail(f"database error: {describe_error(exc)}")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _with_queue(settings: Settings, action: Callable[[Queue], Awaitable[int]]) -> int:
    queue = Queue.open(settings)
    try:
        await check_schema(queue.engine)
        return await action(queue)
    finally:
        await queue.close()


# --------------------------------------------------------------------------------------------- worker


def run_worker(args: argparse.Namespace) -> int:
    from worker.loop import configure_logging, serve

    settings = load_settings(args.config)
    configure_logging(settings)

    async def make_engine() -> AsyncEngine:
        from gen.runner import load_engine  # torch is imported here, never by `db` or the bot

        # Off the event loop: loading a checkpoint takes up to minutes, and /health answers meanwhile.
        engine: AsyncEngine = await asyncio.to_thread(load_engine, settings.gen, settings.data_dir)
        return engine

    return _guarded(lambda: serve(settings, make_engine))


# --------------------------------------------------------------------------------------------- db


def run_db(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    url = settings.database.url

    async def work() -> int:
        heads = migrate.script_heads()
        if args.db_command == "upgrade":
            await migrate.upgrade(url)
        elif args.db_command == "downgrade":
            await migrate.downgrade(url, args.revision)
        revs = await migrate.current(url)
        where = safe_url(url)
        if not revs:
            print(f"{where}: no schema (run `imaginebot db upgrade`)")
        else:
            state = "up to date" if revs == heads else f"head is {', '.join(sorted(heads))}"
            print(f"{where}: revision {', '.join(sorted(revs))} ({state})")
        return 0

    return _guarded(work)


# --------------------------------------------------------------------------------------------- admin


def run_admin(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    handlers: dict[str, Callable[[Queue, argparse.Namespace], Awaitable[int]]] = {
        "quota": _quota,
        "ban": _ban,
        "unban": _ban,
        "cancel": _cancel,
        "pause": _pause,
        "resume": _pause,
        "queue": _queue,
        "stats": _stats,
    }
    handler = handlers[args.admin_command]
    return _guarded(lambda: _with_queue(settings, lambda q: handler(q, args)))


def run_jobs(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)

    async def action(queue: Queue) -> int:
        if args.limit < 1:
            return _fail("--limit must be 1 or more")
        if args.user is not None and not await queue.user_exists(args.user):
            return _fail(f"unknown user {args.user}: they have never used the bot")
        status = JobStatus(args.status) if args.status else None
        jobs = await queue.history(user=args.user, status=status, limit=args.limit)
        _print_jobs(jobs, as_json=args.json, empty="no jobs")
        return 0

    return _guarded(lambda: _with_queue(settings, action))


async def _quota(queue: Queue, args: argparse.Namespace) -> int:
    cmd = args.quota_command
    if cmd == "show":
        info = await queue.quota_show(args.user)
        if args.json:
            print(json.dumps(info.to_json()))
        else:
            _print_quota(info)
    elif cmd == "set":
        if args.n < 0:
            return _fail(f"N must be 0 or more, not {args.n}")
        info = await queue.quota_set(args.user, args.n, actor=_actor())
        print(
            f"user {args.user}: daily limit set to {info.daily_limit} "
            f"({info.used_today} used today, {info.left_today} left)"
        )
    else:
        info = await queue.quota_reset(args.user, actor=_actor())
        print(f"user {args.user}: quota reset (limit {info.daily_limit} a day, today's usage forgotten)")
    return 0


async def _ban(queue: Queue, args: argparse.Namespace) -> int:
    if args.admin_command == "ban":
        cancelled = await queue.ban(args.user, reason=args.reason, actor=_actor())
        extra = f"; {cancelled} queued job(s) cancelled and refunded" if cancelled else ""
        print(f"user {args.user} banned{extra}")
    else:
        await queue.unban(args.user, reason=args.reason, actor=_actor())
        print(f"user {args.user} unbanned")
    return 0


async def _cancel(queue: Queue, args: argparse.Namespace) -> int:
    outcome = await queue.cancel(args.job, actor=_actor())
    if outcome is CancelOutcome.REFUNDED:
        print(f"job {args.job} cancelled (it was queued; the quota was refunded)")
    elif outcome is CancelOutcome.STOPPING:
        print(f"job {args.job} cancelled (it was running; its worker stops and drops the results)")
    else:
        job = await queue.get_job(args.job)
        print(f"job {args.job} had already {job.status.value}; nothing to cancel")
    return 0


async def _pause(queue: Queue, args: argparse.Namespace) -> int:
    if args.admin_command == "pause":
        changed = await queue.pause(actor=_actor())
        print(
            "queue paused: no new jobs are accepted or started; running jobs finish"
            if changed
            else "the queue was already paused"
        )
    else:
        changed = await queue.resume(actor=_actor())
        print("queue resumed" if changed else "the queue was not paused")
    return 0


async def _queue(queue: Queue, args: argparse.Namespace) -> int:
    jobs = await queue.queue_list()
    if not args.json and await queue.is_paused():
        print("(the queue is paused)")
    _print_jobs(jobs, as_json=args.json, empty="the queue is empty")
    return 0


async def _stats(queue: Queue, args: argparse.Namespace) -> int:
    stats = await queue.stats()
    if args.json:
        print(json.dumps(stats.to_json()))
    else:
        _print_stats(stats)
    return 0


# --------------------------------------------------------------------------------------------- output


def _time(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _print_jobs(jobs: Sequence[JobRecord], *, as_json: bool, empty: str) -> None:
    if as_json:
        for job in jobs:
            print(json.dumps(job.to_json()))
        return
    if not jobs:
        print(empty)
        return
    rows = []
    for j in jobs:
        prompt = (
            j.spec.prompt if len(j.spec.prompt) <= PROMPT_WIDTH else j.spec.prompt[: PROMPT_WIDTH - 1] + "…"
        )
        where = (
            j.position
            if j.position is not None
            else (f"{j.progress}%" if j.status is JobStatus.RUNNING else "")
        )
        rows.append(
            [j.id, j.user_id, j.kind.value, j.status.value, j.attempts, where, _time(j.created_at), prompt]
        )
    _table(["JOB", "USER", "KIND", "STATUS", "TRIES", "POSITION", "CREATED (UTC)", "PROMPT"], rows)


def _print_quota(info: QuotaInfo) -> None:
    limit = f"{info.daily_limit}{' (override)' if info.limit_overridden else ''}"
    banned = f"yes{f' ({info.ban_reason})' if info.ban_reason else ''}" if info.banned else "no"
    _table(
        ["USER", str(info.user_id)],
        [
            ["daily limit", limit],
            ["used today", info.used_today],
            ["left today", info.left_today],
            ["queued", info.queued],
            ["running", info.running],
            ["banned", banned],
            ["resets at", f"{info.resets_at:%Y-%m-%d %H:%M} UTC"],
        ],
    )


def _print_stats(stats: QueueStats) -> None:
    rows: list[list[Any]] = [[status, n] for status, n in stats.jobs_by_status.items()]
    rows += [["images", stats.images], ["charged today", stats.charged_today]]
    _table(["", "COUNT"], rows)
