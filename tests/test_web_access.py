"""Who sees what in the web gallery: a user their own jobs, an operator everyone's, a share link its one
job until it expires; and the job page with its images, downloads and lineage. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from PIL import Image
from sqlalchemy import delete, update
from web_fixtures import Site, site_fixture  # noqa: F401

from db.models import JobImage
from imaginebot.core.domain import JobKind


def size_of(data: bytes, fmt: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == fmt
        return img.size


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


async def test_job_page_shows_images_prompt_parameters_and_downloads(site: Site) -> None:
    job = await site.make_job(site.alice, "a red fox in snow", size=(64, 48))
    http = await site.sign_in(site.alice)
    async with http.get(f"{site.url}/jobs/{job.id}") as resp:
        page = await resp.text()
    assert resp.status == 200
    assert f"a red fox in snow --ar 4:3 --seed {job.seed}" in page  # the prompt to copy, with its seed
    assert "Copy prompt" in page and "readonly" in page
    assert f"/jobs/{job.id}/images/3.png?download=1" in page
    async with http.get(f"{site.url}/jobs/{job.id}/images/3.png") as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        assert size_of(await resp.read(), "PNG") == (64, 48)
    async with http.get(f"{site.url}/jobs/{job.id}/images/3.png?download=1") as resp:
        assert resp.headers["Content-Disposition"] == f'attachment; filename="imaginebot-{job.id}-3.png"'
    async with http.get(f"{site.url}/jobs/{job.id}/grid.png") as resp:
        assert size_of(await resp.read(), "PNG") == (128, 96)


async def test_thumbnails_are_jpegs_made_once_and_cached(site: Site) -> None:
    job = await site.make_job(site.alice, "a castle", size=(640, 480))
    http = await site.sign_in(site.alice)
    async with http.get(f"{site.url}/jobs/{job.id}/thumbs/0.jpg") as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        first = await resp.read()
    assert size_of(first, "JPEG") == (384, 288)  # the 2×2 grid, scaled to 384 px
    async with http.get(f"{site.url}/jobs/{job.id}/thumbs/2.jpg") as resp:
        assert size_of(await resp.read(), "JPEG") == (384, 288)
    assert await site.ctx.gallery.thumbnails_stored(job.id) == [0, 2]
    # The images go (as retention deletes them); the cached thumbnails stay and are served as before.
    async with site.queue.database.write() as conn:
        await conn.execute(delete(JobImage).where(JobImage.job_id == job.id))
    async with http.get(f"{site.url}/jobs/{job.id}/thumbs/0.jpg") as resp:
        assert resp.status == 200 and await resp.read() == first
    async with http.get(f"{site.url}/jobs/{job.id}/images/1.png") as resp:
        assert resp.status == 404 and "Image not available" in await resp.text()


async def test_another_users_job_is_refused_everywhere(site: Site) -> None:
    job = await site.make_job(site.alice, "the private garden of alice")
    http = await site.sign_in(site.bob)
    for path in ("", "/images/1.png", "/thumbs/0.jpg", "/grid.png", "/images/1.png?download=1"):
        async with http.get(f"{site.url}/jobs/{job.id}{path}") as resp:
            page = await resp.text()
            assert resp.status == 404, path
            assert resp.content_type == "text/html"
            assert "the private garden of alice" not in page and "Job not found" in page
    async with http.get(site.url + "/me") as resp:
        assert "the private garden of alice" not in await resp.text()
    async with http.get(site.url + "/all") as resp:
        assert resp.status == 403 and "Operators only" in await resp.text()
    async with http.post(f"{site.url}/jobs/{job.id}/share", data={"csrf": "x", "days": "7"}) as resp:
        assert resp.status == 403


async def test_an_operator_sees_everyones_jobs(site: Site) -> None:
    job = await site.make_job(site.alice, "the lighthouse of alice")
    await site.make_job(site.bob, "the windmill of bob")
    http = await site.sign_in(site.operator)
    async with http.get(site.url + "/all") as resp:
        page = await resp.text()
    assert "the lighthouse of alice" in page and "the windmill of bob" in page
    async with http.get(site.url + "/all", params={"user": site.bob["id"]}) as resp:
        page = await resp.text()
    assert "the windmill of bob" in page and "the lighthouse of alice" not in page
    async with http.get(f"{site.url}/jobs/{job.id}") as resp:
        page = await resp.text()
    assert resp.status == 200 and f"user {site.alice['id']}" in page
    async with http.get(f"{site.url}/jobs/{job.id}/images/2.png") as resp:
        assert resp.status == 200


async def test_lineage_links_the_grid_and_what_was_made_from_it(site: Site) -> None:
    grid = await site.make_job(site.alice, "a fox")
    upscale = await site.make_job(site.alice, "a fox", kind=JobKind.UPSCALE, parent=(grid.id, 2))
    bobs = await site.make_job(site.bob, "a fox", kind=JobKind.VARIATION, parent=(grid.id, 3))
    http = await site.sign_in(site.alice)
    async with http.get(f"{site.url}/jobs/{upscale.id}") as resp:
        page = await resp.text()
    assert f'image 2 of <a href="/jobs/{grid.id}">' in page
    assert f"/jobs/{upscale.id}/images/1.png?download=1" in page and "grid.png" not in page
    async with http.get(f"{site.url}/jobs/{grid.id}") as resp:
        page = await resp.text()
    assert f'href="/jobs/{upscale.id}">Upscale of image 2</a>' in page
    assert bobs.id not in page  # bob's variation of it is bob's
    op = await site.sign_in(site.operator)
    async with op.get(f"{site.url}/jobs/{grid.id}") as resp:
        assert f'href="/jobs/{bobs.id}">Variation of image 3</a>' in await resp.text()


async def _share(site: Site, http, job_id: str, days: str = "7") -> str:  # type: ignore[no-untyped-def]
    async with http.get(f"{site.url}/jobs/{job_id}") as resp:
        csrf = csrf_of(await resp.text())
    async with http.post(f"{site.url}/jobs/{job_id}/share", data={"csrf": csrf, "days": days}) as resp:
        page = await resp.text()
    assert resp.status == 200, page
    found = re.search(r'id="share-link"[^>]*>([^<]+)<', page)
    assert found
    return found.group(1).strip()


async def test_share_links_show_one_job_read_only_until_they_expire(site: Site) -> None:
    job = await site.make_job(site.alice, "a shared sunset", size=(64, 48))
    other = await site.make_job(site.alice, "not shared")
    owner = await site.sign_in(site.alice)
    link = await _share(site, owner, job.id)
    assert link.startswith(site.url + "/s/")
    anyone = site.client()
    async with anyone.get(link) as resp:
        page = await resp.text()
    assert resp.status == 200
    assert "a shared sunset" in page and "read-only" in page
    assert "Make share link" not in page and "csrf" not in page and other.id not in page
    token_path = link[len(site.url) :]
    async with anyone.get(f"{site.url}{token_path}/images/1.png") as resp:
        assert resp.status == 200 and size_of(await resp.read(), "PNG") == (64, 48)
    async with anyone.get(f"{site.url}{token_path}/thumbs/0.jpg") as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
    async with anyone.get(f"{site.url}/jobs/{job.id}", allow_redirects=False) as resp:
        assert resp.status == 303  # the link opens that one page, not the account
    # Tampered: another job id under the same signature, a cut-short or changed signature.
    signer = site.ctx.signer
    body, _, sig = token_path[3:].rpartition(".")
    now = datetime.now(UTC)
    other_body = signer.share(other.id, now + timedelta(days=7), now).rpartition(".")[0]
    for bad in (f"{other_body}.{sig}", f"{body}.{sig[:-4]}", f"{body}.{sig[::-1]}", "garbage"):
        async with anyone.get(f"{site.url}/s/{bad}") as resp:
            page = await resp.text()
            assert resp.status == 403, bad
            assert "Invalid share link" in page and "not shared" not in page
        async with anyone.get(f"{site.url}/s/{bad}/images/1.png") as resp:
            assert resp.status == 403
    # Expired: a link made 8 days ago for 7 days.
    ctx = site.ctx
    ctx.now = lambda: datetime.now(UTC) - timedelta(days=8)
    old = await _share(site, owner, job.id, days="7")
    ctx.now = lambda: datetime.now(UTC)
    async with anyone.get(old) as resp:
        page = await resp.text()
    assert resp.status == 410 and "Share link expired" in page and "a shared sunset" not in page
    async with anyone.get(f"{old}/images/1.png") as resp:
        assert resp.status == 410



async def test_flagged_images_are_veiled_and_never_shared(site: Site) -> None:
    job = await site.make_job(site.alice, "a flagged picture", size=(96, 96))
    async with site.queue.database.write() as conn:
        await conn.execute(
            update(JobImage).where(JobImage.job_id == job.id, JobImage.index == 2).values(flagged=True)
        )
    owner = await site.sign_in(site.alice)
    async with owner.get(site.url + "/me") as resp:
        assert "Flagged" in await resp.text()
    async with owner.get(f"{site.url}/jobs/{job.id}") as resp:
        assert "Flagged by image moderation: show" in await resp.text()
    async with owner.get(f"{site.url}/jobs/{job.id}/images/2.png") as resp:
        assert resp.status == 200  # the owner may look behind the veil
    async with owner.get(f"{site.url}/jobs/{job.id}/thumbs/2.jpg") as resp:
        veiled = Image.open(io.BytesIO(await resp.read())).convert("L")
    async with owner.get(f"{site.url}/jobs/{job.id}/thumbs/1.jpg") as resp:
        plain = Image.open(io.BytesIO(await resp.read())).convert("L")
    # The plain thumbnail keeps its sharp white stripe; the veiled one has nothing sharp left.
    assert max(plain.getextrema()) > 240 and max(veiled.getextrema()) < 140
    link = await _share(site, owner, job.id)
    anyone = site.client()
    async with anyone.get(link) as resp:
        page = await resp.text()
    assert "Flagged by image moderation (not shared)" in page and "images/2.png" not in page
    async with anyone.get(link + "/images/2.png") as resp:
        assert resp.status == 403 and "Image withheld" in await resp.text()
    async with anyone.get(link + "/images/1.png") as resp:
        assert resp.status == 200
    async with anyone.get(link + "/grid.png") as resp:
        grid = Image.open(io.BytesIO(await resp.read())).convert("L")
    assert max(grid.crop((96, 0, 192, 96)).getextrema()) < 140  # image 2's tile is veiled
    assert max(grid.crop((0, 0, 96, 96)).getextrema()) > 240


async def test_stop_sharing_withdraws_every_link_made_so_far(site: Site) -> None:
    job = await site.make_job(site.alice, "a sunset shared by mistake")
    owner = await site.sign_in(site.alice)
    first, second = await _share(site, owner, job.id), await _share(site, owner, job.id, days="30")
    anyone = site.client()
    async with anyone.get(first) as resp:
        assert resp.status == 200
    async with owner.get(f"{site.url}/jobs/{job.id}") as resp:
        csrf = csrf_of(await resp.text())
    async with owner.post(f"{site.url}/jobs/{job.id}/unshare", data={"csrf": "stale"}) as resp:
        assert resp.status == 403
    operator = await site.sign_in(site.operator)  # a moderator taking it down works the same way
    async with operator.get(f"{site.url}/jobs/{job.id}") as resp:
        op_csrf = csrf_of(await resp.text())
    async with operator.post(f"{site.url}/jobs/{job.id}/unshare", data={"csrf": op_csrf}) as resp:
        assert resp.status == 200 and "Stopped sharing" in await resp.text()
    for link in (first, second, first + "/images/1.png", second + "/thumbs/0.jpg"):
        async with anyone.get(link) as resp:
            page = await resp.text()
            assert resp.status == 410 and "Share link withdrawn" in page and "sunset" not in page
    third = await _share(site, owner, job.id)  # sharing again afterwards makes a working link
    async with anyone.get(third) as resp:
        assert resp.status == 200 and "a sunset shared by mistake" in await resp.text()
    bob = await site.sign_in(site.bob)
    async with bob.post(f"{site.url}/jobs/{job.id}/unshare", data={"csrf": csrf}) as resp:
        assert resp.status in (403, 404)
    async with anyone.get(third) as resp:
        assert resp.status == 200
