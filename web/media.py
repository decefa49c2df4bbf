"""Image responses: a job's full images (PNG, inline or as a download), its grid, and thumbnails (cached
JPEGs). The caller has already decided that the asker may see the job; `shared` says they hold a share
link rather than own it (a flagged image is then withheld, and veiled in the grid)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from db.records import JobRecord
from imaginebot.core.images import grid_png
from web.context import ctx_of, error_page
from web.thumbs import make_thumbnail, shared_grid

log = logging.getLogger(__name__)

# Private: the bytes are the owner's (a shared cache must not keep them); they never change for a job.
IMMUTABLE = "private, max-age=31536000, immutable"
FULL = "private, max-age=86400"


def _gone(request: web.Request, job: JobRecord) -> web.Response:
    return error_page(
        request, 404, "Image not available",
        f"Job {job.id} has no such image: it did not finish, or its images were deleted after the "
        "retention period.",
    )  # fmt: skip


def _index(request: web.Request) -> int:
    try:
        return int(request.match_info["index"])
    except (KeyError, ValueError):
        return -1


def _download(request: web.Request, headers: dict[str, str], name: str) -> dict[str, str]:
    if request.query.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return headers


async def full_image(request: web.Request, job: JobRecord, shared: bool) -> web.StreamResponse:
    index = _index(request)
    images = await ctx_of(request).gallery.images(job.id, [index])
    if not images:
        return _gone(request, job)
    if shared and images[0].flagged:
        return error_page(
            request,
            403,
            "Image withheld",
            "Image moderation flagged this image: it is not shown by share links.",
        )
    headers = _download(request, {"Cache-Control": FULL}, f"imaginebot-{job.id}-{index}.png")
    return web.Response(body=images[0].png, content_type="image/png", headers=headers)


async def grid_image(request: web.Request, job: JobRecord, shared: bool) -> web.StreamResponse:
    images = await ctx_of(request).gallery.images(job.id)
    if not images:
        return _gone(request, job)
    if shared and any(i.flagged for i in images):
        png = await asyncio.to_thread(shared_grid, images)
    elif len(images) > 1:
        png = await asyncio.to_thread(grid_png, [i.png for i in images])
    else:
        png = images[0].png
    headers = _download(request, {"Cache-Control": FULL}, f"imaginebot-{job.id}-grid.png")
    return web.Response(body=png, content_type="image/png", headers=headers)


async def thumbnail(request: web.Request, job: JobRecord, shared: bool) -> web.StreamResponse:
    """Index 0: the job's cover; 1…: one image. From the cache, else made now and kept."""
    index = _index(request)
    gallery = ctx_of(request).gallery
    thumb = await gallery.thumbnail(job.id, index)
    if thumb is None:
        images = await gallery.images(job.id, None if index == 0 else [index])
        if not images:
            return _gone(request, job)
        thumb = await asyncio.to_thread(make_thumbnail, images)
        await gallery.store_thumbnail(job.id, index, thumb)
        log.debug("made thumbnail %d of job %s", index, job.id)
    etag = f'"{job.id}-{index}"'
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=thumb.jpeg, content_type="image/jpeg", headers=headers)
