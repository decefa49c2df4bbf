"""`imaginebot db upgrade|current|downgrade`: the schema of the configured database; `imaginebot db prune`:
retention (images older than storage.keep_days, expired interaction tokens)."""

from __future__ import annotations

import argparse

from db import migrate
from db.queue import Queue
from db.records import PruneReport
from db.session import safe_url
from imaginebot.app.common import actor, fail, guarded, with_queue
from imaginebot.core.config import load_settings


def run_db(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    url = settings.database.url
    if args.db_command == "prune":
        keep_days = settings.storage.keep_days if args.days is None else args.days

        async def prune(queue: Queue) -> int:
            print(prune_line(await queue.retention.prune(keep_days, actor=actor()), keep_days))
            return 0

        return guarded(lambda: with_queue(settings, prune))

    async def work() -> int:
        heads = migrate.script_heads()
        if args.db_command == "upgrade":
            await migrate.upgrade(url)
        elif args.db_command == "downgrade":
            from alembic.util import CommandError

            if not all(part.strip() for part in args.revision.split("@")):  # alembic asserts on these
                return fail(f"REVISION {args.revision!r} is not a revision: use base, an id like 0001, or -N")
            try:
                await migrate.downgrade(url, args.revision)
            except CommandError as exc:  # no such revision, or not below the current one
                return fail(f"REVISION {args.revision!r}: {' '.join(str(exc).split())}")
        revs = await migrate.current(url)
        where = safe_url(url)
        if not revs:
            print(f"{where}: no schema (run `imaginebot db upgrade`)")
        else:
            state = "up to date" if revs == heads else f"head is {', '.join(sorted(heads))}"
            print(f"{where}: revision {', '.join(sorted(revs))} ({state})")
        return 0

    return guarded(work)


def prune_line(report: PruneReport, keep_days: int) -> str:
    """`imaginebot db prune`'s one line."""
    if not report.deleted_anything:
        kept = "for ever" if keep_days == 0 else f"{keep_days} day{'s' if keep_days != 1 else ''}"
        return f"nothing to prune (images are kept {kept})"
    return (
        f"pruned {report.jobs} job(s): {report.images + report.inputs} image(s), "
        f"{report.bytes / 1_000_000:.1f} MB; erased {report.tokens} expired interaction token(s)"
    )
