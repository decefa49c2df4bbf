"""Operations endpoints: /health and Prometheus /metrics read the real queue."""

from __future__ import annotations

import aiohttp

from db.queue import Queue
from imaginebot import metrics
from imaginebot.domain import JobSpec


async def test_health_and_metrics_report_the_queue(queue: Queue) -> None:
    await queue.enqueue(7, [JobSpec(prompt="a fox"), JobSpec(prompt="a cat")], model="tiny")
    runner = await metrics.start_server(queue.stats, "127.0.0.1", 0, role="bot")
    try:
        host, port = runner.addresses[0][:2]
        metrics.observe_batch(2.0, 4)
        metrics.observe_ack(0.02)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}:{port}/health") as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "ok"
            async with http.get(f"http://{host}:{port}/metrics") as resp:
                text = await resp.text()
        assert "imaginebot_queue_depth 2.0" in text
        assert 'imaginebot_jobs{status="queued"} 2.0' in text
        assert "imaginebot_jobs_charged_today 2.0" in text
        assert "imaginebot_generation_seconds_per_image_count" in text
        assert "imaginebot_ack_seconds_bucket" in text
    finally:
        await runner.cleanup()


async def test_health_says_unavailable_when_the_database_is_down() -> None:
    async def broken() -> object:
        raise ConnectionRefusedError("no database")

    runner = await metrics.start_server(broken, "127.0.0.1", 0, role="worker")
    try:
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/health") as resp:
            assert resp.status == 503
            assert (await resp.json())["reason"] == "database"
    finally:
        await runner.cleanup()
