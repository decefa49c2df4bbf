"""`imaginebot run`: the Discord bot, plus an embedded worker unless `queue.embedded_worker = false`.

With the worker disabled nothing here imports torch, diffusers or `gen`, so the bot host needs no GPU
stack. The queue (the one database engine) is opened once here and handed to the bot and the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from imaginebot.app.logs import setup_logging
from imaginebot.core.config import Settings, load_settings

if TYPE_CHECKING:
    from db.queue import Queue
    from imaginebot.app.describe import Describer
    from imaginebot.core.domain import AsyncEngine
    from worker.pool import EnginePool

log = logging.getLogger("imaginebot.run")

SHUTDOWN_GRACE = 10.0  # seconds beyond the lease a stopping worker gets before it is cancelled


async def serve(
    settings: Settings,
    token: str,
    *,
    stop: asyncio.Event | None = None,
    engine: AsyncEngine | None = None,
    describer: Describer | None = None,
    **bot_options: Any,
) -> None:
    """Run the bot (and the worker) until `stop` is set or the bot ends.

    `describer` answers /describe instead of `gen.captioner` (tests inject one). `engine` is what the
    embedded worker (when `queue.embedded_worker`) uses instead of loading
    `gen.model` (tests inject one); it is not closed here. Raises SchemaOutdated / DatabaseUnavailable
    before connecting to Discord, and discord.LoginFailure for a token Discord refuses. `bot_options`
    go to discord.py's Client.
    """
    from bot.client import ImagineBot, point_discord_at
    from db.migrate import check_schema
    from imaginebot.app.common import open_queue
    from imaginebot.app.describe import describer_for

    stop = stop or asyncio.Event()
    queue = open_queue(settings)
    metrics_server = web_server = None
    try:
        await check_schema(queue.engine)
        if settings.web.enabled:
            from web.app import start_server as start_web

            web_server = await start_web(settings, queue.database)
        if settings.metrics.enabled:
            from imaginebot.core import metrics

            metrics_server = await metrics.start_server(
                queue.reads.stats, settings.metrics.host, settings.metrics.port, role="bot"
            )
        point_discord_at(settings)
        worker_stop = asyncio.Event()
        async with ImagineBot(settings, queue, **bot_options) as bot:
            bot.describer = describer or describer_for(settings.gen)
            tasks = [asyncio.create_task(bot.start(token), name="bot")]
            if settings.queue.embedded_worker:
                tasks.append(
                    asyncio.create_task(_embedded_worker(settings, queue, worker_stop, engine), name="worker")
                )
            stopper = asyncio.create_task(stop.wait(), name="stop")
            await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            log.info("shutting down")
            worker_stop.set()
            # The worker finishes (or hands back) its batch first, while the bot can still deliver.
            drain = settings.queue.lease_seconds + SHUTDOWN_GRACE
            for task in tasks[1:]:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), drain)
            stopper.cancel()
            await bot.close()  # ends bot.start() cleanly: the gateway is closed before the loop moves on
            with contextlib.suppress(TimeoutError):
                await asyncio.wait({tasks[0]}, timeout=SHUTDOWN_GRACE)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if metrics_server is not None:
            await metrics_server.cleanup()
        if web_server is not None:
            await web_server.cleanup()
        await queue.close()


async def _embedded_worker(
    settings: Settings, queue: Queue, stop: asyncio.Event, engine: AsyncEngine | None
) -> None:
    from imaginebot.app.worker import close_engines
    from worker.loop import Worker

    engines: AsyncEngine | EnginePool
    if engine is None:
        from imaginebot.app.engines import engine_pool  # torch is imported there, and only there

        log.info("loading model %s for the embedded worker", settings.gen.model)
        engines = await engine_pool(settings)
    else:
        engines = engine
    try:
        await Worker(queue.lifecycle, engines, settings.queue).run(stop)
    finally:
        if engine is None:
            await close_engines(engines)


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

    from db.session import DatabaseUnavailable, SchemaOutdated

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, token, stop=stop)
    except (SchemaOutdated, DatabaseUnavailable) as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print("imaginebot: Discord refused the token in DISCORD_TOKEN", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. the model cannot be loaded: the log has the traceback
        log.exception("the bot stopped")
        print(f"imaginebot: the bot stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
