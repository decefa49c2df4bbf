"""The image prompts of an /imagine: its attachments (`image`, `image2`) and the image URLs at the start of
its prompt, read and checked on the bot host (bot.fetch; limits in imaginebot.core.image_inputs), once,
before anything is charged. Workers get them from the database and never fetch a URL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import aiohttp
import discord

from bot import messages
from bot.fetch import check_attachment_size, fetch_images, read_attachment
from bot.replies import Refusal
from db.records import SourceFile
from imaginebot.core.image_inputs import (
    InputImage,
    InputImageError,
    control_map_png,
    control_problem,
    style_reference_problem,
)

ATTACHMENT_TIMEOUT = 30.0  # seconds to download an attached image from Discord's file host


def style_reference_urls(refs: Sequence[str], has_images: bool, ip_adapter: str) -> list[str]:
    """The links of `--sref`, or a Refusal: style references need an IP-Adapter, are image links (not
    style codes), and do not mix with image prompts (one adapter weight per job)."""
    if not refs:
        return []
    problem = style_reference_problem(refs, has_images, ip_adapter)
    if problem:
        raise Refusal(messages.refused(f"{problem}; nothing was charged"))
    return list(refs)


def check_control(cn: str, count: int, style: bool, configured: dict[str, str]) -> None:
    """A Refusal naming what is wrong with `--cn` and its `count` images, before anything is fetched."""
    problem = control_problem(cn, count, configured, style)
    if problem:
        raise Refusal(messages.refused(f"{problem}; nothing was charged"))


async def control_inputs(cn: str, images: list[SourceFile]) -> list[SourceFile]:
    """`--cn`'s one image (checked by `check_control`) as its control map (canny: its edge map)."""
    png = await asyncio.to_thread(control_map_png, cn, images[0].png)
    return [SourceFile(png, images[0].width, images[0].height)]


@contextlib.asynccontextmanager
async def gate_released(gate: asyncio.Semaphore) -> AsyncIterator[None]:
    """Inside `make_jobs` (bot.submit runs it holding a `db_gate` slot): give the slot back while reading
    or fetching images, which may take seconds and never touch the database, then take one again. (If
    the caller is cancelled meanwhile, the shielded acquire still completes, and the caller's own
    release balances it.)"""
    gate.release()
    try:
        yield
    finally:
        await asyncio.shield(gate.acquire())


async def read_image_option(attachment: discord.Attachment, label: str) -> InputImage:
    """An attachment option's image: its announced size checked first, then its bytes."""
    check_attachment_size(attachment.size, label)
    try:
        data = await asyncio.wait_for(attachment.read(), ATTACHMENT_TIMEOUT)
    except discord.HTTPException as exc:
        raise InputImageError(f"could not download {label} from Discord ({exc.status})") from None
    except (aiohttp.ClientError, OSError, TimeoutError):  # Discord's file host unreachable or too slow
        raise InputImageError(f"could not download {label} from Discord; try again in a moment") from None
    return await asyncio.to_thread(read_attachment, data, label)


async def gather_images(
    attachments: Sequence[tuple[str, discord.Attachment | None]],
    urls: Sequence[str],
    allowed_hosts: Sequence[str],
) -> list[SourceFile]:
    """The attachments given (in order) and then the URLs' images; a Refusal with one clear message for the
    first that is refused (too large, not an image, a host not allowed, …)."""
    try:
        images = [await read_image_option(a, label) for label, a in attachments if a is not None]
        if urls:
            images += await fetch_images(list(urls), allowed_hosts=allowed_hosts)
    except InputImageError as err:
        raise Refusal(messages.refused(f"{err}; nothing was charged")) from None
    return [SourceFile(i.png, i.width, i.height) for i in images]
