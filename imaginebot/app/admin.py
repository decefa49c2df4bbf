"""`imaginebot admin …`: the operations of /admin, for operators at the shell, on the configured database."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable

from db.queue import Queue
from imaginebot.app import messages, tables
from imaginebot.app.common import actor, fail, guarded, with_queue
from imaginebot.core.config import load_settings


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
        "audit": _audit,
    }
    handler = handlers[args.admin_command]
    return guarded(lambda: with_queue(settings, lambda q: handler(q, args)))


async def _quota(queue: Queue, args: argparse.Namespace) -> int:
    cmd = args.quota_command
    if cmd == "show":
        info = await queue.reads.quota_show(args.user, args.guild)
        if args.json:
            print(json.dumps(info.to_json()))
        else:
            tables.print_quota(info)
    elif cmd == "set":
        if args.n is None and args.gpu_minutes is None:
            return fail("give N (jobs per day), --gpu-minutes M, or both")
        if args.gpu_minutes is not None and args.guild is not None:
            return fail("--gpu-minutes counts in every guild: leave out --guild")
        info = await queue.admin.quota_set(
            args.user, args.n, actor=actor(), guild_id=args.guild, fast_gpu_minutes=args.gpu_minutes
        )
        print(messages.quota_set(args.user, info))
    else:
        info = await queue.admin.quota_reset(args.user, actor=actor(), guild_id=args.guild)
        print(messages.quota_reset(args.user, info))
    return 0


async def _ban(queue: Queue, args: argparse.Namespace) -> int:
    if args.admin_command == "ban":
        cancelled = await queue.admin.ban(args.user, reason=args.reason, actor=actor(), guild_id=args.guild)
        print(messages.banned(args.user, cancelled, args.guild))
    else:
        await queue.admin.unban(args.user, reason=args.reason, actor=actor(), guild_id=args.guild)
        print(messages.unbanned(args.user, args.guild))
    return 0


async def _cancel(queue: Queue, args: argparse.Namespace) -> int:
    outcome = await queue.admin.cancel(args.job, actor=actor(), guild_id=args.guild)
    print(messages.cancelled(await queue.reads.get_job(args.job), outcome))
    return 0


async def _pause(queue: Queue, args: argparse.Namespace) -> int:
    if args.admin_command == "pause":
        print(messages.paused(await queue.admin.pause(actor=actor(), guild_id=args.guild), args.guild))
    else:
        print(messages.resumed(await queue.admin.resume(actor=actor(), guild_id=args.guild), args.guild))
    return 0


async def _queue(queue: Queue, args: argparse.Namespace) -> int:
    jobs = await queue.reads.queue_list(args.guild)
    if not args.json and await queue.reads.is_paused():
        print(messages.QUEUE_IS_PAUSED)
    elif not args.json and args.guild is not None and await queue.reads.is_paused(args.guild):
        print(messages.guild_paused(args.guild))
    tables.print_jobs(jobs, as_json=args.json, empty="the queue is empty")
    return 0


async def _stats(queue: Queue, args: argparse.Namespace) -> int:
    stats = await queue.reads.stats()
    if args.json:
        print(json.dumps(stats.to_json()))
    else:
        tables.print_stats(stats)
    return 0


async def _audit(queue: Queue, args: argparse.Namespace) -> int:
    """One line per entry, newest first: when, who, what, whom, detail (`--json`: one object a line)."""
    entries = await queue.moderation.audit_log(user_id=args.user, guild_id=args.guild, limit=args.limit)
    for e in entries:
        if args.json:
            print(json.dumps(e.to_json()))
        else:
            print(messages.audit_line(e))
    if not entries and not args.json:
        print("the audit log is empty" if args.user is None else f"no audit entries about user {args.user}")
    return 0
