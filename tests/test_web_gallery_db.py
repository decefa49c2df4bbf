"""db/gallery.py, the web gallery's reads and writes, on SQLite and PostgreSQL; and the `[web]` settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fake_engine import solid_png

from db.gallery import Gallery, GalleryFilter, Thumbnail
from db.queue import Queue
from imaginebot.core.config import ConfigError, load_settings
from imaginebot.core.domain import GenResult, JobKind, JobSpec

CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
LIMITS = {"quota": {"daily_jobs": 1000, "max_queued": 100, "max_running": 100}}


@pytest.fixture
def q(make_queue: Callable[..., Queue]) -> Queue:
    return make_queue(**LIMITS)


async def succeeded(q: Queue, user: int, prompt: str) -> str:
    [job] = await q.admission.enqueue(user, [JobSpec(prompt)], model="tiny")
    [claimed] = await q.lifecycle.claim("w", model="tiny", max_images=8)
    pngs = [solid_png(8, 8, (1, 2, 3))] * 4
    assert await q.lifecycle.complete(claimed.id, "w", GenResult(job.id, pngs, 8, 8))
    return job.id


async def test_the_signing_key_is_made_once_and_shared(q: Queue, make_queue: Callable[..., Queue]) -> None:
    first = await Gallery(q.database).signing_key("web")
    assert len(first) >= 40
    other_process = make_queue()
    assert await Gallery(other_process.database).signing_key("web") == first
    assert await Gallery(q.database).signing_key("other") != first


async def test_thumbnails_are_kept_once(q: Queue) -> None:
    gallery = Gallery(q.database)
    job_id = await succeeded(q, 1, "a fox")
    assert await gallery.thumbnail(job_id, 0) is None
    await gallery.store_thumbnail(job_id, 0, Thumbnail(b"first", 4, 4))
    await gallery.store_thumbnail(job_id, 0, Thumbnail(b"second", 4, 4))  # another request, same moment
    assert await gallery.thumbnail(job_id, 0) == Thumbnail(b"first", 4, 4)
    await gallery.store_thumbnail("no-such-job", 0, Thumbnail(b"x", 1, 1))  # deleted meanwhile: nothing
    assert await gallery.thumbnail("no-such-job", 0) is None


async def test_pages_filters_and_lineage(q: Queue) -> None:
    gallery = Gallery(q.database)
    ids = [await succeeded(q, 1, f"fox number {n}") for n in range(5)]
    await succeeded(q, 2, "someone else's fox")
    page = await gallery.page(GalleryFilter(1), 2, 2)
    assert [j.id for j in page.jobs] == [ids[2], ids[1]] and (page.total, page.pages) == (5, 3)
    assert page.with_images == frozenset(ids[1:3])
    assert (await gallery.page(GalleryFilter(1), 4, 2)).jobs == []
    assert (await gallery.page(GalleryFilter(None), 1, 10)).total == 6
    assert (await gallery.page(GalleryFilter(1, text="NUMBER 3"), 1, 10)).total == 1
    assert (await gallery.page(GalleryFilter(1, kinds=(JobKind.UPSCALE,)), 1, 10)).total == 0
    with pytest.raises(ValueError, match="page and per_page must be at least 1"):
        await gallery.page(GalleryFilter(1), 0, 10)
    job = await gallery.job(ids[0])
    assert job is not None
    lineage = await gallery.lineage(job)
    assert lineage.parent is None and lineage.children == []
    assert [s.index for s in await gallery.image_sizes(ids[0])] == [1, 2, 3, 4]


def test_web_settings_are_checked_at_start() -> None:
    settings = load_settings(CONFIG, {})
    assert (settings.web.enabled, settings.web.port, settings.web.public_url) == (False, 9109, "")
    env = {"IMAGINEBOT_WEB__ENABLED": "true", "IMAGINEBOT_WEB__PUBLIC_URL": "https://g.example.org/"}
    assert load_settings(CONFIG, env).web.public_url == "https://g.example.org"
    with pytest.raises(ConfigError, match=r"configuration key 'web\.public_url': must be an http"):
        load_settings(CONFIG, {"IMAGINEBOT_WEB__PUBLIC_URL": "g.example.org"})
    with pytest.raises(ConfigError, match=r"unknown configuration key 'web\.colour'"):
        load_settings(CONFIG, {"IMAGINEBOT_WEB__COLOUR": "red"})
    assert "secret" not in repr(load_settings(CONFIG, {"IMAGINEBOT_WEB__SECRET": "x" * 20}).web)


async def test_a_short_web_secret_stops_the_gallery_without_showing_it(q: Queue, db_url: str) -> None:
    from fixtures_db import settings_for

    from web.app import build_context

    settings = settings_for(db_url, web={"secret": "hunter2-too-short"[:12]})
    with pytest.raises(ConfigError) as err:
        await build_context(settings, q.database)
    assert "web.secret" in str(err.value) and "at least 16 characters" in str(err.value)
    assert "hunter2" not in str(err.value)
