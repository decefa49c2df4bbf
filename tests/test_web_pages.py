"""The gallery grid's paging and filters, and bad input everywhere: a clear page, never a traceback.
SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from web_fixtures import Site, site_fixture  # noqa: F401

from imaginebot.core.domain import JobKind


def prompts_on(page: str) -> list[str]:
    return re.findall(r'<p class="prompt" title="[^"]*">([^<]*)</p>', page)


async def test_newest_first_in_pages(site: Site) -> None:  # page_size is 4 in these tests
    for n in range(6):
        await site.make_job(site.alice, f"lantern number {n}")
    http = await site.sign_in(site.alice)
    async with http.get(site.url + "/me") as resp:
        first = await resp.text()
    assert prompts_on(first) == [f"lantern number {n}" for n in (5, 4, 3, 2)]
    assert "Page 1 of 2" in first and 'href="?page=2"' in first and "6 jobs" in first
    async with http.get(site.url + "/me?page=2") as resp:
        second = await resp.text()
    assert prompts_on(second) == ["lantern number 1", "lantern number 0"]
    assert "Page 2 of 2" in second and 'href="?"' in second  # back to page 1


async def test_filters_by_kind_status_and_prompt_words(site: Site) -> None:
    grid = await site.make_job(site.alice, "A Red Fox in the snow")
    await site.make_job(site.alice, "a red fox", kind=JobKind.UPSCALE, parent=(grid.id, 1))
    await site.make_job(site.alice, "blue whale 100% real_thing")
    await site.queued_job(site.alice, "a queued red fox")
    http = await site.sign_in(site.alice)

    async def shown(query: str) -> list[str]:
        async with http.get(site.url + "/me?" + query) as resp:
            assert resp.status == 200, query
            return prompts_on(await resp.text())

    assert await shown("kind=upscales") == ["a red fox"]
    succeeded_grids = ["blue whale 100% real_thing", "A Red Fox in the snow"]
    assert await shown("kind=grids&status=succeeded") == succeeded_grids
    assert await shown("q=FOX+red") == ["a queued red fox", "a red fox", "A Red Fox in the snow"]
    assert await shown("q=fox+snow&kind=imagine") == ["A Red Fox in the snow"]
    assert await shown("q=100%25") == ["blue whale 100% real_thing"]  # % and _ are plain characters
    assert await shown("q=%25x") == [] and await shown("q=wh_le") == []
    assert await shown("status=queued") == ["a queued red fox"]
    async with http.get(site.url + "/me?q=nothing+like+this") as resp:
        assert "No job matches these filters." in await resp.text()
    async with http.get(site.url + "/me?status=queued") as resp:
        assert "Waiting in the queue" in await resp.text()


async def test_an_empty_gallery_says_how_to_fill_it(site: Site) -> None:
    http = await site.sign_in(site.bob)
    async with http.get(site.url + "/me") as resp:
        page = await resp.text()
    assert resp.status == 200 and "No jobs yet" in page and "/imagine" in page


BAD_QUERIES = [
    ("page=abc", 400, "page must be a whole number"),
    ("page=-1", 400, "page must be a whole number"),
    ("page=0", 400, "page must be a whole number"),
    ("page=1.5", 400, "page must be a whole number"),
    ("page=1e9", 400, "page must be a whole number"),
    ("page=99999999999999999999999999", 400, "page must be a whole number"),
    ("page=999999999", 404, "Page 999999999 does not exist: there is 1 page of jobs here."),
    ("page=2", 404, "Page 2 does not exist"),
    ("kind=bogus", 400, "kind must be one of: all, grids, upscales"),
    ("status=melted", 400, "status must be one of: all, queued"),
    ("q=" + "x" * 201, 400, "the search text is too long"),
    ("page=%00", 400, "page must be a whole number"),
]


@pytest.mark.parametrize(("query", "status", "message"), BAD_QUERIES)
async def test_bad_gallery_queries_get_a_clear_page(
    site: Site, query: str, status: int, message: str
) -> None:
    await site.make_job(site.alice, "one job")
    http = await site.sign_in(site.alice)
    async with http.get(site.url + "/me?" + query) as resp:
        page = await resp.text()
    assert resp.status == status
    assert resp.content_type == "text/html"
    assert message in page.replace("&#39;", "'")
    assert "Traceback" not in page


async def test_bad_addresses_get_a_clear_page(site: Site) -> None:
    job = await site.make_job(site.alice, "a kite")
    http = await site.sign_in(site.alice)
    cases = [
        ("GET", "/jobs/NoSuchJob123", 404, "There is no job &#39;NoSuchJob123&#39; that you can see."),
        ("GET", "/jobs/" + "x" * 40, 404, "There is nothing at this address."),
        ("GET", "/jobs/a%2F..%2F..%2Fetc", 404, "There is nothing at this address."),
        ("GET", f"/jobs/{job.id}/images/9.png", 404, "Image not available"),
        ("GET", f"/jobs/{job.id}/images/one.png", 404, "There is nothing at this address."),
        ("GET", f"/jobs/{job.id}/thumbs/7.jpg", 404, "Image not available"),
        ("GET", "/no/such/page", 404, "There is nothing at this address."),
        ("POST", "/me", 405, "does not take that kind of request"),
        ("GET", "/s/", 404, "There is nothing at this address."),
    ]
    for method, path, status, message in cases:
        async with http.request(method, site.url + path) as resp:
            page = await resp.text()
            assert (resp.status, resp.content_type) == (status, "text/html"), path
            assert message in page, path
            assert "Traceback" not in page
    async with http.get(f"{site.url}/jobs/{job.id}") as resp:
        csrf = re.findall(r'name="csrf" value="([^"]+)"', await resp.text())[0]
    for days in ("0", "abc", "100000", ""):
        async with http.post(f"{site.url}/jobs/{job.id}/share", data={"csrf": csrf, "days": days}) as resp:
            assert resp.status == 400 and "days must be one of 1, 7, 30, 90" in await resp.text()
    async with http.post(f"{site.url}/jobs/{job.id}/share", data={"csrf": "stale", "days": "7"}) as resp:
        assert resp.status == 403 and "Form expired" in await resp.text()


async def test_pages_carry_protective_headers(site: Site) -> None:
    http = await site.sign_in(site.alice)
    async with http.get(site.url + "/me") as resp:
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Cache-Control"] == "no-store"
    cookie = next(c for c in http.cookie_jar if c.key == "ib_session")
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    async with site.client().get(site.url + "/") as resp:
        assert resp.status == 200 and "Sign in with Discord" in await resp.text()
    async with site.client().get(site.url + "/health") as resp:
        assert resp.status == 200
