"""`imaginebot worker`: one worker process (one per GPU), claiming from the shared database.

Process start-up lives here: the schema check, the metrics server, the signal handlers and the engine's
loading and closing; the loop itself is `worker.loop.Worker`. Tests run the same `serve` with a fake
engine (tests/fake_engine.py).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from db.migrate import check_schema
from db.queue import Queue
from imaginebot.app.common import guarded, open_queue
from imaginebot.app.logs import setup_logging
from imaginebot.core import metrics
from imaginebot.core.config import ConfigError, Settings, load_settings
from imaginebot.core.domain import AsyncEngine
from worker.loop import Worker
from worker.pool import EnginePool

Engines = AsyncEngine | EnginePool
EngineFactory = Callable[[], Engines | Awaitable[Engines]]


def run_worker(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    setup_logging(settings.app.log_level)

    async def make_engines() -> EnginePool:
        from imaginebot.app.engines import engine_pool  # torch: there, never in `db`, `worker` or the bot

        # Off the event loop: loading a checkpoint takes up to minutes, and /health answers meanwhile.
        return await engine_pool(settings)

    return guarded(lambda: serve(settings, make_engines))


async def serve(settings: Settings, make_engine: EngineFactory, *, worker_id: str | None = None) -> int:
    """Run one worker until SIGTERM/SIGINT. Raises SchemaOutdated / DatabaseUnavailable before starting,
    and ConfigError when `metrics.enabled` and the metrics port cannot be opened.

    With `metrics.enabled`, /health and /metrics are served from before the engine loads until the
    worker has stopped.
    """
    queue = open_queue(settings)
    server = None
    try:
        await check_schema(queue.engine)
        if settings.metrics.enabled:
            server = await start_metrics(settings, queue)
        engine = make_engine()
        if inspect.isawaitable(engine):
            engine = await engine
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await Worker(queue.lifecycle, engine, settings.queue, worker_id).run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await close_engines(engine)
    finally:
        if server is not None:
            await server.cleanup()
        await queue.close()
    return 0


async def start_metrics(settings: Settings, queue: Queue) -> web.AppRunner:
    """/health and /metrics for this worker; ConfigError (one line) when the port cannot be opened."""
    m = settings.metrics
    try:
        return await metrics.start_server(queue.reads.stats, m.host, m.port, role="worker")
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {m.host}:{m.port} (metrics.host, metrics.port): {exc.strerror or exc}"
        ) from None


async def close_engines(engines: Engines) -> None:
    """Close an engine or a pool (its every loaded engine), whichever `close` it has."""
    closer = getattr(engines, "aclose", None) or getattr(engines, "close", None)
    if closer is not None:
        result = closer()
        if inspect.isawaitable(result):
            await result
