"""The gallery in a real headless browser (Debian's chromium via Selenium): signing in through the
Discord stand-in's OAuth2 pages, the grid's thumbnails drawn on screen (checked from a screenshot's
pixels), the job page, and everything without JavaScript too. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os

import numpy as np
from PIL import Image, ImageStat
from web_browser import Browser, browser_fixture, browser_without_js_fixture  # noqa: F401
from web_fixtures import Site, site_fixture  # noqa: F401

COLOURS = [(200, 30, 30), (30, 160, 40), (40, 60, 210)]
PAGE_BACKGROUNDS = [(17, 19, 24), (27, 30, 38), (0, 0, 0)]  # the page, a card, a thumbnail's frame


def _close(a: tuple[float, ...], b: tuple[int, ...], tolerance: float) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=False))


def _drawn_share(area: Image.Image) -> float:
    """The share of the area's pixels that are not one of the page's own background colours."""
    pixels = np.asarray(area, dtype=np.int16).reshape(-1, 3)
    background = np.zeros(len(pixels), dtype=bool)
    for bg in PAGE_BACKGROUNDS:
        background |= (np.abs(pixels - np.array(bg, dtype=np.int16)) <= 12).all(axis=1)
    return float(1 - background.mean()) if len(pixels) else 0.0


async def _sign_in(site: Site, browser: Browser, user: dict, next_path: str = "/me") -> None:  # type: ignore[type-arg]
    await asyncio.to_thread(browser.sign_out_everywhere)
    site.standin.oauth.sign_in_as(user)
    await asyncio.to_thread(browser.get, f"{site.url}/login?next={next_path}")
    assert browser.url == site.url + next_path, browser.text


async def test_gallery_grid_draws_its_thumbnails(site: Site, browser: Browser) -> None:
    jobs = [await site.make_job(site.alice, f"colour study {n}", colour=c) for n, c in enumerate(COLOURS)]
    await _sign_in(site, browser, site.alice)
    images = await asyncio.to_thread(browser.wait_images_loaded, ".grid img", at_least=3)
    assert len(images) == 3
    assert [await asyncio.to_thread(browser.natural_width, i) for i in images] == [128, 128, 128]
    shot = await asyncio.to_thread(browser.screenshot)
    if os.environ.get("IMAGINEBOT_SCREENSHOTS"):  # a folder to keep the screenshot in, for a person to see
        shot.save(os.path.join(os.environ["IMAGINEBOT_SCREENSHOTS"], "gallery.png"))
    boxes = [browser.box(i) for i in images]
    # Newest first: the cards show the jobs in reverse order of making.
    for box, colour in zip(boxes, reversed(COLOURS), strict=True):
        x0, y0, x1, y1 = box
        assert x1 - x0 > 100 and y1 - y0 > 70 and y1 <= shot.height, box
        thumb = shot.crop(box)
        assert _drawn_share(thumb) > 0.95, f"thumbnail at {box} is not drawn"
        # The mosaic's top-left image is the job's first image: its colour, above the white stripe.
        corner = thumb.crop((2, 2, (x1 - x0) // 2 - 2, (y1 - y0) // 6))
        mean = tuple(ImageStat.Stat(corner).mean)
        assert _close(mean, colour, 30), f"expected {colour} at the top left of {box}, got {mean}"
    assert all(job.id in browser.driver.page_source for job in jobs)


async def test_job_page_shows_full_images_and_a_copy_button(site: Site, browser: Browser) -> None:
    job = await site.make_job(site.alice, "a windmill at dusk", size=(96, 64))
    await _sign_in(site, browser, site.alice, f"/jobs/{job.id}")
    images = await asyncio.to_thread(browser.wait_images_loaded, ".quad img", at_least=4)
    assert [await asyncio.to_thread(browser.natural_width, i) for i in images] == [96] * 4
    assert await asyncio.to_thread(browser.displayed, "button.copy")  # the script revealed it
    assert browser.value("#prompt") == f"a windmill at dusk --ar 4:3 --seed {job.seed}"
    assert "Download:" in browser.text and "Lineage" in browser.text


async def test_everything_works_without_javascript(site: Site, browser_without_js: Browser) -> None:
    browser = browser_without_js
    job = await site.make_job(site.alice, "a quiet harbour")
    await _sign_in(site, browser, site.alice)
    images = await asyncio.to_thread(browser.wait_images_loaded, ".grid img", at_least=1)
    assert await asyncio.to_thread(browser.natural_width, images[0]) > 0
    await asyncio.to_thread(browser.get, f"{site.url}/jobs/{job.id}")
    assert not await asyncio.to_thread(browser.displayed, "button.copy")  # no script: the box is selectable
    assert browser.value("#prompt").startswith("a quiet harbour")
    await asyncio.to_thread(browser.click, ".share button[type=submit]")
    link = await asyncio.to_thread(browser.value, "#share-link")
    assert link.startswith(site.url + "/s/")
    await asyncio.to_thread(browser.sign_out_everywhere)
    await asyncio.to_thread(browser.get, link)
    assert "a quiet harbour" in browser.text and "read-only" in browser.text
