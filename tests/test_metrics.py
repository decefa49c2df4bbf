"""Operations endpoints: /health and Prometheus /metrics read the real queue."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from fake_engine import SleepEngine
from fixtures_db import SettingsQueue, poll_until, write_config

from imaginebot.core import metrics
from imaginebot.core.domain import JobSpec, JobStatus
from worker.loop import Worker


async def test_health_and_metrics_report_the_queue(queue: SettingsQueue) -> None:
    await queue.admission.enqueue(7, [JobSpec(prompt="a fox"), JobSpec(prompt="a cat")], model="tiny")
    runner = await metrics.start_server(queue.reads.stats, "127.0.0.1", 0, role="bot")
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


# --------------------------------------------------------------------------------------------- worker

COUNT = "imaginebot_generation_seconds_per_image_count"
SUM = "imaginebot_generation_seconds_per_image_sum"


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_worker_observes_seconds_per_image(queue: SettingsQueue) -> None:
    before = metrics.REGISTRY.get_sample_value(COUNT) or 0.0
    total = metrics.REGISTRY.get_sample_value(SUM) or 0.0
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model="tiny")
    stop = asyncio.Event()
    task = asyncio.create_task(
        Worker(queue.lifecycle, SleepEngine("tiny", seconds=0.4), queue.settings.queue, "w").run(stop)
    )
    try:
        await poll_until(lambda: _succeeded(queue, job.id), what="the job")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert metrics.REGISTRY.get_sample_value(COUNT) == before + 1  # one batch
    per_image = (metrics.REGISTRY.get_sample_value(SUM) or 0.0) - total
    assert 0.09 <= per_image < 1.0  # 0.4 s for 4 images


async def _succeeded(q: SettingsQueue, job_id: str) -> bool:
    return (await q.reads.get_job(job_id)).status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_worker_process_serves_health_and_metrics(
    db_url: str, tmp_path: Path, make_queue: Callable[..., SettingsQueue], spawn_worker
) -> None:
    port = _free_port()
    q = make_queue()
    config = write_config(tmp_path / "c.toml", db_url, metrics={"enabled": True, "port": port})
    proc = spawn_worker(config, seconds=0.2, worker_id="w")
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

        async def healthy() -> bool:
            try:
                async with http.get(f"{base}/health") as resp:
                    return resp.status == 200 and (await resp.json())["role"] == "worker"
            except aiohttp.ClientConnectionError:
                return False

        async def scrape() -> str:
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                return await resp.text()

        await poll_until(healthy, within=60, interval=0.1, what="/health")
        before = _sample(await scrape(), COUNT)
        [job] = await q.admission.enqueue(1, [JobSpec("a fox")], model="tiny")
        await poll_until(lambda: _succeeded(q, job.id), within=30, what="the job")
        text = await scrape()
        assert _sample(text, COUNT) == before + 1
        assert _sample(text, 'imaginebot_jobs{status="succeeded"}') == 1
        assert _sample(text, "imaginebot_queue_depth") == 0

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        with pytest.raises(aiohttp.ClientConnectionError):  # the server went away with the worker
            await http.get(f"{base}/health")
    log = (tmp_path / "worker-0.log").read_text()
    assert f"metrics and health on http://127.0.0.1:{port}" in log
    assert f"job {job.id}: started on worker w" in log and f"job {job.id}: succeeded on worker w" in log


@pytest.mark.parametrize("db_backend", ["sqlite"])
async def test_worker_refuses_a_busy_metrics_port(db_url: str, tmp_path: Path, spawn_worker) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path / "c.toml", db_url, metrics={"enabled": True, "port": port})
        proc = spawn_worker(config)
        assert await asyncio.to_thread(proc.wait, 60) == 2
    lines = (tmp_path / "worker-0.log").read_text().strip().splitlines()
    assert lines[-1].startswith(f"imaginebot: cannot serve metrics on 127.0.0.1:{port} (metrics.host")
    assert "Traceback" not in "".join(lines)
