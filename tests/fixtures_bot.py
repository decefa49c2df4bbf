"""Bot fixtures: the Discord stand-in, and `imaginebot run`'s `serve()` running against it in-process.

`start_bot(engine, **sections)` starts the real bot (real discord.py over real sockets, a real SQLite file,
the embedded worker with the given engine) and returns a `RunningBot` with a second queue on the same
database for the test's own checks. Everything is stopped after the test; a test asserts
`standin.violations == []` itself, and the fixture checks it again at the end.

`tiny_bot_engine` is the real diffusers engine on the tiny random-weight model, loaded (and warmed up)
once per session; `fake_bot_engine(...)` is the torch-free SleepEngine for timing-sensitive tests.
"""

# Explicit timeouts are part of these helpers' API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest
from discord_standin import DiscordStandIn, InteractionHandle
from fake_engine import SleepEngine
from fixtures_db import open_queue, settings_for
from PIL import Image

from db.queue import Queue
from imaginebot.core.config import Settings

__all__ = [
    "TINY_STEPS", "RunningBot", "bot_db_url", "fake_bot_engine", "is_progress", "png_size_of", "standin",
    "start_bot", "tiny_bot_engine", "wait_until",
]

FAKE_MODEL = "fake-model"
TINY_STEPS = 6  # denoising steps for the tiny engine; tests raise it per prompt-independent config
TINY_RESOLUTION = 128  # base resolution in the bot tests: `--ar 1:1` is 128×128, an upscale 256×256


@dataclass
class RunningBot:
    settings: Settings
    queue: Queue  # the test's own connection to the bot's database
    stop: asyncio.Event
    task: asyncio.Task[None]
    standin: DiscordStandIn
    engine: Any = None
    notes: dict[str, Any] = field(default_factory=dict)

    async def shutdown(self, timeout: float = 20.0) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout)

    async def imagine(self, user: dict[str, Any], prompt: str) -> InteractionHandle:
        ix = await self.standin.slash(user, "imagine", {"prompt": prompt})
        await ix.wait_ack(5)
        return ix

    async def progress_id(self, user: dict[str, Any]) -> str:
        """The id of the progress message of `user`'s newest job: the interaction's own answer, or a
        channel message when the bot deferred privately (an enqueue slower than the ack budget, as on a
        loaded machine) — tests must not assume which."""

        async def known() -> str | None:
            jobs = await self.queue.reads.history(user=int(user["id"]))
            return str(jobs[0].progress_message_id) if jobs and jobs[0].progress_message_id else None

        found: str = await wait_until(known, 10, "the job's progress message")
        return found

    async def wait_result(self, predicate: Callable[[dict[str, Any]], bool] | None = None,
                          timeout: float = 30.0) -> dict[str, Any]:
        """The first result message (an attachment and buttons) that satisfies `predicate`. A progress
        message (a preview and its Cancel button) is not a result."""
        def check(m: dict[str, Any]) -> bool:
            result = bool(m["attachments"] and m["components"]) and not is_progress(m)
            return result and (predicate is None or predicate(m))

        return await self.standin.wait_for_message(check, timeout)


def is_progress(message: dict[str, Any]) -> bool:
    """A job's progress message: it carries the Cancel button (custom id `ib:cancel:<job>`)."""
    return any(str(c.get("custom_id", "")).startswith("ib:cancel:")
               for row in message.get("components") or [] for c in row.get("components") or [])


async def wait_until(
    check: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "condition"
) -> Any:
    """Await `check()` until it returns something truthy (and return that); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


def png_size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as server:
        yield server


@pytest.fixture
def bot_db_url(db_url: str) -> str:
    """Every bot test runs on SQLite (the embedded default) and on PostgreSQL (the scaled-out one)."""
    return db_url


@pytest.fixture
def fake_bot_engine() -> Callable[..., SleepEngine]:
    """fake_bot_engine(seconds=0.0, steps=4, size=16) -> a SleepEngine for the bot's model."""

    def make(seconds: float = 0.0, steps: int = 4, size: int = 16, fail: str = "") -> SleepEngine:
        return SleepEngine(FAKE_MODEL, seconds=seconds, steps=steps, size=size, fail=fail)

    return make


@pytest.fixture(scope="session")
def tiny_bot_engine(tiny_model_dir: Path) -> Iterator[Any]:
    """The real engine (gen.runner.load_engine) on the tiny model, warmed up with one small image."""
    from gen.runner import load_engine
    from imaginebot.core.domain import GenRequest, JobKind, JobSpec

    gen = settings_for("sqlite+aiosqlite:///unused.db", gen={"model": str(tiny_model_dir),
                                                             "preview_interval": 0.2}).gen
    engine = load_engine(gen, tiny_model_dir.parent)
    warm = GenRequest("warm-up", JobKind.IMAGINE, JobSpec("warm up", width=64, height=64, steps=2), 1)
    engine.engine.generate([warm])
    yield engine
    engine.close()


def bot_settings(standin: DiscordStandIn, db_url: str, model: str, **sections: dict[str, Any]) -> Settings:
    merged: dict[str, dict[str, Any]] = {
        "discord": {"api_base_url": standin.api_base_url, "gateway_url": standin.gateway_url,
                    "guild_ids": [int(standin.guild_id)]},
        "gen": {"model": model, "steps": TINY_STEPS, "base_resolution": TINY_RESOLUTION},
        "app": {"log_level": "DEBUG"},
    }
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return settings_for(db_url, **merged)


@pytest.fixture
async def start_bot(
    standin: DiscordStandIn, bot_db_url: str
) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    """start_bot(engine, **sections) -> RunningBot: `serve()` on the stand-in, commands synced."""
    from imaginebot.app.run import serve

    running: list[RunningBot] = []
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY

    async def start(engine: Any, **sections: dict[str, Any]) -> RunningBot:
        settings = bot_settings(standin, bot_db_url, engine.model_id, **sections)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, standin.token, stop=stop, engine=engine))
        bot = RunningBot(settings, open_queue(settings), stop, task, standin, engine)
        running.append(bot)
        ready = asyncio.ensure_future(standin.wait_for_commands(15))
        await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()  # raises what serve() raised
            pytest.fail("the bot stopped before syncing its commands")
        await ready
        await standin.wait_ready(15)
        return bot

    yield start
    try:
        for bot in running:
            if not bot.task.done():
                await bot.shutdown()
            elif not bot.task.cancelled():
                with contextlib.suppress(Exception):
                    bot.task.result()
            await bot.queue.close()
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    assert [str(v) for v in standin.violations] == []
