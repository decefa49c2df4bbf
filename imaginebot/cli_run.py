"""`imaginebot run`: the Discord bot, plus an embedded worker unless `queue.embedded_worker = false`.

With the worker disabled nothing here imports torch or diffusers, so the bot host needs no GPU stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from imaginebot.config import Settings, load_settings
from imaginebot.logs import setup_logging

log = logging.getLogger("imaginebot.run")


async def serve(settings: Settings, token: str, *, stop: asyncio.Event | None = None) -> None:
    """Open the shared resources once, start the bot (and worker), run until `stop` or a signal."""
    from bot.client import ImagineBot, point_discord_at
    from db.queue import Queue
    from db.session import check_schema, create_engine

    stop = stop or asyncio.Event()
    db_engine = create_engine(settings.database)
    try:
        await check_schema(db_engine)
        queue = Queue(db_engine, settings)
        point_discord_at(settings)
        bot = ImagineBot(settings, queue)
        tasks: list[asyncio.Task[None]] = []
        if settings.queue.embedded_worker:
            tasks.append(asyncio.create_task(_embedded_worker(settings, queue, stop), name="worker"))
        async with bot:
            tasks.append(asyncio.create_task(bot.start(token), name="bot"))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            for task in done:
                if task is not stopper and task.exception():
                    raise task.exception()  # type: ignore[misc]
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=settings.queue.lease_seconds)
    finally:
        await db_engine.dispose()


async def _embedded_worker(settings: Settings, queue: object, stop: asyncio.Event) -> None:
    from gen.runner import load_engine
    from imaginebot.worker import Worker

    engine = await asyncio.to_thread(load_engine, settings.gen, settings.data_dir)
    await Worker(queue, engine, settings).run(stop)


def run_bot(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    setup_logging(settings.app.log_level)
    token = Settings.discord_token()
    if token is None:
        print("imaginebot: set the environment variable DISCORD_TOKEN to your bot's token", file=sys.stderr)
        return 2
    return asyncio.run(_main(settings, token.get_secret_value()))


async def _main(settings: Settings, token: str) -> int:
    import discord

    from db.session import DatabaseError, SchemaOutdated

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, token, stop=stop)
    except (SchemaOutdated, DatabaseError) as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print("imaginebot: Discord refused the token in DISCORD_TOKEN", file=sys.stderr)
        return 2
    return 0
