"""Starting the gallery: `imaginebot web` alone (a real process), and `imaginebot run` serving it beside
the bot when `web.enabled` — a job made with /imagine on the Discord stand-in then appears in the
signer-in's gallery. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from discord_standin import DiscordStandIn
from fixtures_db import write_config

from imaginebot.core.config import CLIENT_SECRET_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def web_section(standin: DiscordStandIn, port: int) -> dict[str, Any]:
    standin.oauth.register_redirect(f"http://127.0.0.1:{port}/auth/callback")
    return {"enabled": True, "port": port, "client_id": int(standin.application_id)}


async def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None, within: float = 30) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + "/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert proc is None or proc.poll() is None, "the gallery process exited"
            assert time.monotonic() < deadline, f"the gallery at {url} did not answer within {within} s"
            await asyncio.sleep(0.05)


def spawn(config: Path, secret: str | None, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_") and k != CLIENT_SECRET_ENV}
    if secret is not None:
        env[CLIENT_SECRET_ENV] = secret
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "imaginebot.app.cli", "web", "--config", str(config)],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def test_imaginebot_web_serves_the_gallery_alone(
    db_url: str, standin: DiscordStandIn, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(
        tmp_path / "config.toml", db_url,
        discord={"api_base_url": standin.api_base_url}, web=web_section(standin, port),
    )  # fmt: skip
    alice = standin.add_member("alice")
    standin.oauth.sign_in_as(alice)
    url = f"http://127.0.0.1:{port}"
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for run in range(2):
            procs.append(spawn(config, standin.oauth.client_secret, tmp_path / f"web-{run}.log"))
            await wait_healthy(url, procs[-1])
            if run == 0:
                async with http.get(url + "/login") as resp:
                    page = await resp.text()
                assert resp.status == 200 and "No jobs yet" in page and "alice" in page
            else:  # the restarted gallery keeps the signing key (in the database): still signed in
                async with http.get(url + "/me", allow_redirects=False) as resp:
                    assert resp.status == 200 and "alice" in await resp.text()
            procs[-1].send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(procs[-1].wait, 30) == 0
    finally:
        await http.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


async def test_imaginebot_web_refuses_an_outdated_database(empty_db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", empty_db_url, web={"port": free_port()})
    proc = spawn(config, None, tmp_path / "web.log")
    code = await asyncio.to_thread(proc.wait, 60)
    out = (tmp_path / "web.log").read_text()
    assert code == 2 and "run `imaginebot db upgrade`" in out and "Traceback" not in out


async def test_imaginebot_web_says_when_its_port_is_taken(db_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "config.toml", db_url, web={"port": port})
        proc = spawn(config, None, tmp_path / "web.log")
        code = await asyncio.to_thread(proc.wait, 60)
    out = (tmp_path / "web.log").read_text()
    assert code == 2 and f"cannot serve the web gallery on 127.0.0.1:{port}" in out and "Traceback" not in out


async def test_imaginebot_run_serves_the_gallery_with_the_bots_jobs(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, monkeypatch: Any
) -> None:
    port = free_port()
    monkeypatch.setenv(CLIENT_SECRET_ENV, standin.oauth.client_secret)
    bot = await start_bot(fake_bot_engine(), web=web_section(standin, port))
    alice = standin.add_member("alice")
    await bot.imagine(alice, "a fox that walked into the gallery")
    await bot.wait_result()
    url = f"http://127.0.0.1:{port}"
    await wait_healthy(url)
    standin.oauth.sign_in_as(alice)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url + "/login") as resp:
            page = await resp.text()
        assert resp.status == 200 and "a fox that walked into the gallery" in page
        [job] = await bot.queue.reads.history(user=int(alice["id"]))
        async with http.get(f"{url}/jobs/{job.id}/thumbs/0.jpg") as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
