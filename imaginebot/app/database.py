"""`imaginebot db upgrade|current|downgrade`: the schema of the configured database."""

from __future__ import annotations

import argparse

from db import migrate
from db.session import safe_url
from imaginebot.app.common import guarded
from imaginebot.core.config import load_settings


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

    return guarded(work)
