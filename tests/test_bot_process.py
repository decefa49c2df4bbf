"""`imaginebot run` as a real process, configured only by IMAGINEBOT_* variables and DISCORD_TOKEN:
killed with SIGKILL mid-job and restarted; started without the embedded worker (no torch); refused on an
out-of-date schema."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from discord_standin import DiscordStandIn
from fake_engine import solid_png
from fixtures_bot import png_size_of, wait_until
from fixtures_db import REPO_ROOT, open_queue, settings_for

from db.queue import Queue
from db.records import DeliveryTarget, JobRecord
from imaginebot.core.domain import GenResult, JobSpec, JobStatus

IMAGINEBOT = str(Path(sys.executable).parent / "imaginebot")
NO_TORCH_CHECK = """
import json, sys
from imaginebot.app.cli import main
rc = main(["run"])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "diffusers", "transformers", "gen"})
print(json.dumps({"rc": rc, "heavy": heavy}))
"""


def bot_env(standin: DiscordStandIn, db_url: str, **values: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    env.update({
        "DISCORD_TOKEN": standin.token,
        "IMAGINEBOT_DISCORD__API_BASE_URL": standin.api_base_url,
        "IMAGINEBOT_DISCORD__GATEWAY_URL": standin.gateway_url,
        "IMAGINEBOT_DISCORD__GUILD_IDS": f"[{standin.guild_id}]",
        "IMAGINEBOT_DATABASE__URL": db_url,
        "IMAGINEBOT_QUEUE__LEASE_SECONDS": "2",
        "IMAGINEBOT_QUEUE__POLL_INTERVAL": "0.05",
        "HF_HUB_OFFLINE": "1",
    })
    env.update({f"IMAGINEBOT_{k.upper()}": str(v) for k, v in values.items()})
    return env


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def spawn(procs: list[subprocess.Popen[bytes]], cmd: list[str], env: dict[str, str], cwd: Path,
          stdout: int | None = None) -> subprocess.Popen[bytes]:
    with open(cwd / f"bot-{len(procs)}.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout or log, stderr=log)
    procs.append(proc)
    return proc


async def wait_identified(standin: DiscordStandIn, count: int, proc: subprocess.Popen[bytes],
                          seconds: float = 60) -> None:
    """Until the stand-in has seen `count` IDENTIFYs (one per bot process start) and a live session."""
    async def identified() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"the bot exited with {proc.returncode}; see its log in {proc.args}")
        kinds = [c.kind for c in standin.gateway_connections]
        return kinds.count("identify") >= count and standin.commands(standin.guild_id) != []

    await wait_until(identified, seconds, f"bot start #{count}")
    await standin.wait_ready(seconds)


async def test_sigkill_mid_job_then_restart_delivers_once_and_old_buttons_work(
    standin: DiscordStandIn, bot_db_url: str, tiny_model_dir: Path, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    env = bot_env(standin, bot_db_url, gen__model=str(tiny_model_dir), gen__steps=150,
                  gen__base_resolution=128, app__data_dir=str(tmp_path / "data"))
    alice = standin.add_member("alice")
    queue = open_queue(settings_for(bot_db_url))
    try:
        # A job that finished while no bot was running: the first process delivers it on start.
        old = await finished_job(queue, standin, int(alice["id"]), str(tiny_model_dir))
        first = spawn(processes, [IMAGINEBOT, "run"], env, tmp_path)
        await wait_identified(standin, 1, first)
        old_grid = await standin.wait_for_message(lambda m: m.get("nonce") == old.id, 30)
        assert [c["label"] for c in old_grid["components"][0]["components"]] == ["U1", "U2", "U3", "U4"]

        ix = await standin.slash(alice, "imagine", {"prompt": "a slow painting"})
        assert (await ix.wait_ack(5)).elapsed < 3

        async def running_with_progress_message() -> JobRecord | None:
            """The new job once a worker holds it and its public progress message exists: read from the
            database, not from a "%" edit (a fast job may never show one; a busy bot answers privately
            first and posts the progress message separately)."""
            jobs = await queue.reads.history(user=int(alice["id"]))
            new = [j for j in jobs if j.id != old.id and j.progress_message_id is not None]
            return new[0] if new and new[0].status is JobStatus.RUNNING else None

        # 150 steps take seconds even on a fast CPU: the kill lands while the job runs.
        await wait_until(running_with_progress_message, 60, "the new job running")
        first.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
        (slow, _old) = await queue.reads.history(user=int(alice["id"]))
        assert slow.status is JobStatus.RUNNING and slow.delivered_at is None
        progress_id = str(slow.progress_message_id)

        second = spawn(processes, [IMAGINEBOT, "run"], env, tmp_path)
        await wait_identified(standin, 2, second)
        press = await standin.press(alice, old_grid, label="U1")  # a button from before the restart
        assert (await press.wait_ack(5)).elapsed < 3

        def is_result(m: dict[str, Any]) -> bool:
            return bool(m["attachments"]) and m.get("nonce") == slow.id

        result = await standin.wait_for_message(is_result, 90)
        upscale = await standin.wait_for_message(lambda m: "Image #1" in m["content"], 60)
        assert png_size_of(bytes(upscale["attachments"][0]["data"])) == (256, 256)
        await wait_until(lambda: _delivered(queue, slow.id), 10, "the slow job marked delivered")
        assert [m["id"] for m in standin.messages() if m.get("nonce") == slow.id] == [result["id"]]
        assert (await queue.reads.get_job(slow.id)).attempts == 2
        assert standin.message(progress_id)["deleted"]

        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 30) == 0
    finally:
        await queue.close()
    assert standin.violations == []


async def finished_job(queue: Queue, standin: DiscordStandIn, user_id: int, model: str) -> JobRecord:
    """A succeeded, undelivered /imagine job of `user_id` in the stand-in's channel (128×128 images)."""
    target = DeliveryTarget(int(standin.guild_id), int(standin.channel_id))
    spec = JobSpec("an old grid", width=128, height=128)
    [job] = await queue.admission.enqueue(user_id, [spec], model=model, delivery=target)
    [claimed] = await queue.lifecycle.claim("seed-worker", model=model, max_images=4)
    images = [solid_png(128, 128, (40 * k, 90, 160)) for k in range(4)]
    assert await queue.lifecycle.complete_many("seed-worker", [GenResult(claimed.id, images, 128, 128)])
    return job


async def _delivered(queue: Queue, job_id: str) -> bool:
    return (await queue.reads.get_job(job_id)).delivered_at is not None


async def test_without_the_embedded_worker_no_torch_is_imported(
    standin: DiscordStandIn, bot_db_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    env = bot_env(standin, bot_db_url, queue__embedded_worker="false")
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = spawn(processes, [sys.executable, "-c", NO_TORCH_CHECK], env, tmp_path, stdout=subprocess.PIPE)
    await wait_identified(standin, 1, proc)
    bob = standin.add_member("bob")
    ix = await standin.slash(bob, "imagine", {"prompt": "queued for a worker elsewhere"})
    assert "Queued — position 1" in (await ix.wait_ack(5)).data["content"]
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report == {"rc": 0, "heavy": []}
    assert standin.violations == []


async def test_out_of_date_schema_is_refused_with_one_line(
    standin: DiscordStandIn, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    env = bot_env(standin, f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}")
    proc = spawn(processes, [IMAGINEBOT, "run"], env, tmp_path)
    assert await asyncio.to_thread(proc.wait, 60) == 2
    lines = (tmp_path / "bot-0.log").read_text().strip().splitlines()
    assert lines[-1].startswith("imaginebot: ") and "imaginebot db upgrade" in lines[-1]
    assert [c.kind for c in standin.gateway_connections] == []
