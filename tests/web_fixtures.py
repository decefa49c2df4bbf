"""Web gallery fixtures: the gallery served over a real socket on a fresh database (SQLite and
PostgreSQL), signing in through the Discord stand-in's OAuth2 endpoints, and jobs with real PNG images
written through the queue (enqueue → claim → complete), as a worker would.

    async def test_x(site: Site) -> None:
        job = await site.make_job(site.alice, "a red fox")
        async with await site.sign_in(site.alice) as http:
            async with http.get(site.url + f"/jobs/{job.id}") as resp: ...
"""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from discord_standin import DiscordStandIn
from fixtures_db import open_queue, settings_for
from PIL import Image

from db.queue import Queue
from imaginebot.core.config import CLIENT_SECRET_ENV, Settings
from imaginebot.core.domain import GenResult, ImageRef, JobKind, JobSpec
from web.context import CONTEXT, WebContext

__all__ = ["Site", "png_of", "site_fixture"]

MODEL = "tiny"
LIMITS = {"daily_jobs": 10_000, "max_queued": 1000, "max_running": 1000}


def png_of(width: int, height: int, rgb: tuple[int, int, int], *, stripe: bool = True) -> bytes:
    """A PNG of one colour, with a white stripe across (so a thumbnail is not one flat colour)."""
    img = Image.new("RGB", (width, height), rgb)
    if stripe:
        img.paste((255, 255, 255), (0, height // 3, width, height // 3 + max(1, height // 8)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Site:
    url: str
    settings: Settings
    queue: Queue
    standin: DiscordStandIn
    alice: dict[str, Any]
    bob: dict[str, Any]
    operator: dict[str, Any]
    runner: web.AppRunner
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def ctx(self) -> WebContext:
        """The running gallery's context (its signer, its clock `now`)."""
        return self.runner.app[CONTEXT]

    def client(self) -> aiohttp.ClientSession:
        """A browser-like HTTP client (its own cookies; redirects not followed unless asked)."""
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sessions.append(http)
        return http

    async def sign_in(self, user: dict[str, Any], next_path: str = "/me") -> aiohttp.ClientSession:
        """A client signed in as `user`: /login → the stand-in's authorize → /auth/callback → next_path."""
        self.standin.oauth.sign_in_as(user)
        http = self.client()
        async with http.get(f"{self.url}/login", params={"next": next_path}) as resp:
            text = await resp.text()
            assert resp.status == 200, text
            assert resp.url.path == next_path.split("?")[0]
        return http

    async def make_job(
        self,
        user: dict[str, Any],
        prompt: str,
        *,
        kind: JobKind = JobKind.IMAGINE,
        parent: tuple[str, int] | None = None,
        size: tuple[int, int] = (64, 48),
        colour: tuple[int, int, int] = (200, 30, 30),
        images: int | None = None,
    ) -> Any:
        """A succeeded job of `user` with real PNG images (4, or 1 for an upscale)."""
        ref = ImageRef(*parent) if parent else None
        spec = JobSpec(prompt, weights=(), width=size[0], height=size[1], aspect_ratio="4:3")
        owner = int(user["id"])
        [job] = await self.queue.admission.enqueue(owner, [spec], kind=kind, model=MODEL, parent=ref)
        worker = f"w-{secrets.token_hex(3)}"
        claimed = await self.queue.lifecycle.claim(worker, model=MODEL, max_images=64)
        assert [c.id for c in claimed] == [job.id]
        count = images if images is not None else kind.image_count
        pngs = [png_of(*size, tuple((c + 40 * k) % 256 for c in colour)) for k in range(count)]  # type: ignore[misc]
        assert await self.queue.lifecycle.complete(job.id, worker, GenResult(job.id, pngs, *size))
        return await self.queue.reads.get_job(job.id)

    async def queued_job(self, user: dict[str, Any], prompt: str) -> Any:
        [job] = await self.queue.admission.enqueue(int(user["id"]), [JobSpec(prompt)], model=MODEL)
        return job


@pytest.fixture(name="site")
async def site_fixture(
    db_url: str, standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Site]:
    from web.app import start_server

    alice = standin.add_member("alice")
    bob = standin.add_member("bob")
    operator = standin.add_member("olga")
    monkeypatch.setenv(CLIENT_SECRET_ENV, standin.oauth.client_secret)
    settings = settings_for(
        db_url,
        discord={"api_base_url": standin.api_base_url},
        web={"enabled": True, "port": 0, "client_id": int(standin.application_id), "page_size": 4},
        admin={"user_ids": [int(operator["id"])]},
        quota=LIMITS,
    )
    queue = open_queue(settings)
    runner = await start_server(settings, queue.database)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    standin.oauth.register_redirect(url + "/auth/callback")
    made = Site(url, settings, queue, standin, alice, bob, operator, runner)
    try:
        yield made
    finally:
        for http in made.sessions:
            await http.close()
        await runner.cleanup()
        await queue.close()
