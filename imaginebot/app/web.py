"""`imaginebot web`: the web gallery alone (`imaginebot run` serves it too when `web.enabled`).

It needs only the database (no Discord token, no torch): sign-in goes through Discord's OAuth2 endpoints
with `web.client_id` and DISCORD_CLIENT_SECRET.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from imaginebot.app.logs import setup_logging
from imaginebot.core.config import Settings, load_settings


async def serve_web(settings: Settings, stop: asyncio.Event) -> None:
    """Serve the gallery until `stop` is set. Raises SchemaOutdated / DatabaseUnavailable first."""
    from db.migrate import check_schema
    from imaginebot.app.common import open_queue
    from web.app import start_server

    queue = open_queue(settings)
    try:
        await check_schema(queue.engine)
        runner = await start_server(settings, queue.database)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await queue.close()


def run_web(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    setup_logging(settings.app.log_level)
    return asyncio.run(_main(settings))


async def _main(settings: Settings) -> int:
    from db.session import DatabaseError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve_web(settings, stop)
    except DatabaseError as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken
        where = f"{settings.web.host}:{settings.web.port}"
        print(f"imaginebot: cannot serve the web gallery on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
