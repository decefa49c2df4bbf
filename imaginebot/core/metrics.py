"""Operations: `/health` and Prometheus `/metrics` on `metrics.host:metrics.port` when `metrics.enabled`.

Queue depth and jobs by status are read from the database on each scrape (every bot and worker sees the
same numbers); generation seconds per image are observed by the worker, ack latency by the bot. The
server is aiohttp (already a dependency of discord.py), so it runs on the process's own event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

if TYPE_CHECKING:  # aiohttp is imported when a server starts: `imaginebot imagine` never needs it (0.2 s)
    from aiohttp import web

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

QUEUE_DEPTH = Gauge("imaginebot_queue_depth", "Jobs waiting in the queue", registry=REGISTRY)
JOBS_BY_STATUS = Gauge("imaginebot_jobs", "Jobs in the database by status", ["status"], registry=REGISTRY)
CHARGED_TODAY = Gauge(
    "imaginebot_jobs_charged_today", "Jobs charged to quotas today (UTC)", registry=REGISTRY
)
GEN_SECONDS_PER_IMAGE = Histogram(
    "imaginebot_generation_seconds_per_image",
    "Wall time of a generation batch divided by its images",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "imaginebot_ack_seconds",
    "Time from an interaction's arrival to the bot's first answer",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
    registry=REGISTRY,
)


def observe_batch(seconds: float, images: int) -> None:
    if images > 0:
        GEN_SECONDS_PER_IMAGE.observe(seconds / images)


def observe_ack(seconds: float) -> None:
    ACK_SECONDS.observe(seconds)


StatsSource = Callable[[], Awaitable[Any]]


async def refresh_from_queue(stats: StatsSource) -> None:
    """Copy the queue's statistics (a `QueueStats`) into the gauges."""
    s = await stats()
    for status, count in s.jobs_by_status.items():
        JOBS_BY_STATUS.labels(status=status).set(count)
    QUEUE_DEPTH.set(s.jobs_by_status.get("queued", 0))
    CHARGED_TODAY.set(s.charged_today)


def make_app(stats: StatsSource, role: str) -> web.Application:
    from aiohttp import web

    started = time.monotonic()

    async def health(_: web.Request) -> web.Response:
        try:
            await stats()
        except Exception as exc:  # the database is what a health check is for
            log.warning("health check: database unavailable: %s", exc)
            return web.json_response(
                {"status": "unavailable", "role": role, "reason": "database"}, status=503
            )
        return web.json_response(
            {"status": "ok", "role": role, "uptime_s": round(time.monotonic() - started)}
        )

    async def metrics(_: web.Request) -> web.Response:
        try:
            await refresh_from_queue(stats)
        except Exception as exc:
            log.warning("metrics: could not read the queue: %s", exc)
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    return app


async def start_server(stats: StatsSource, host: str, port: int, role: str) -> web.AppRunner:
    from aiohttp import web

    """Serve /health and /metrics; returns the runner (call `await runner.cleanup()` to stop)."""
    runner = web.AppRunner(make_app(stats, role), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("metrics and health on http://%s:%d (/metrics, /health)", host, bound)
    return runner
