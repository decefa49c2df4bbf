"""Fetching user-supplied input images: attachments and image URLs from a prompt.

The bot host fetches each image once (workers never fetch URLs): https only, from an allow-list of host
names (exact, case-insensitive; no user info, no IP literals, no other port), following at most
MAX_REDIRECTS redirects and only within the same host, streaming the body and aborting once it is over
the byte limit, under one total timeout. The bytes then go through
`imaginebot.core.image_inputs.load_input_image`. Every refusal is a `FetchError` (an InputImageError)
whose text is a one-line message for the user naming the host and the reason.
"""
# `timeout` is a plain number of seconds: it bounds the whole fetch and is named in the error message.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import ipaddress
import ssl as ssl_module
from collections.abc import Sequence

import aiohttp
from yarl import URL

from imaginebot.core.image_inputs import (
    MAX_INPUT_BYTES,
    InputImage,
    InputImageError,
    check_size,
    format_size,
    load_input_image,
    short_url,
)

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024
_HEADERS = {"Accept": "image/png, image/jpeg, image/webp, image/gif", "Accept-Encoding": "identity"}
_HOST_SHOWN = 80

SSLArg = ssl_module.SSLContext | bool | None


class FetchError(InputImageError):
    """An image URL could not be fetched or was refused; str() is a one-line message for the user."""


def check_attachment_size(size: int, label: str = "image") -> None:
    """Refuse an attachment from its announced size, before downloading it."""
    check_size(size, label)


def read_attachment(data: bytes, label: str = "image") -> InputImage:
    """Validate the bytes of a Discord attachment (from `Attachment.read()`)."""
    return load_input_image(data, label=label)


def check_image_url(url: str | URL, allowed_hosts: Sequence[str]) -> URL:
    """The URL to fetch, or FetchError unless it is https on the default port from an allowed host name."""
    try:
        target = url if isinstance(url, URL) else URL(url.strip())
        host = (target.raw_host or "").lower()
        port = target.explicit_port
    except (ValueError, TypeError, UnicodeError):
        raise FetchError(f"{short_url(str(url))} is not a valid image link") from None
    if target.scheme != "https":
        scheme = target.scheme or "a link without a scheme"
        raise FetchError(f"only https image links are accepted, not {scheme} ({short_url(str(url))})")
    shown = _shown(host)
    if not host:
        raise FetchError(f"{short_url(str(url))} is not a valid image link: it names no host")
    if target.raw_user is not None or target.raw_password is not None:
        raise FetchError(f"image links with a user name are not accepted ({shown})")
    if _is_ip_literal(host):
        raise FetchError(f"images are not fetched from an IP address ({shown}); allowed hosts: "
                         f"{_allowed_text(allowed_hosts)}")
    if host not in _normalised(allowed_hosts):
        raise FetchError(f"images are not fetched from {shown}; allowed hosts: "
                         f"{_allowed_text(allowed_hosts)}")
    if port not in (None, 443):
        raise FetchError(f"image links must not name a port ({shown}:{port})")
    return target


async def fetch_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allowed_hosts: Sequence[str],
    max_bytes: int = MAX_INPUT_BYTES,
    timeout: float = 10.0,
    label: str = "image",
    ssl: SSLArg = None,
) -> InputImage:
    """Fetch one image URL and validate it; FetchError/InputImageError with a user message if refused.

    `ssl` is passed to each request (None: aiohttp's default verification, or the session's connector's).
    """
    target = check_image_url(url, allowed_hosts)
    host = _shown(target.raw_host or "")
    try:
        async with asyncio.timeout(timeout):
            data = await _download(session, target, allowed_hosts=allowed_hosts, max_bytes=max_bytes,
                                   timeout=timeout, label=label, ssl=ssl)
    except TimeoutError:
        raise FetchError(f"{host} did not send {label} within {timeout:g} s") from None
    except aiohttp.ClientConnectorCertificateError:
        raise FetchError(f"could not fetch {label} from {host}: its TLS certificate is not trusted") from None
    except aiohttp.ClientSSLError:
        raise FetchError(f"could not fetch {label} from {host}: the TLS connection failed") from None
    except aiohttp.ClientConnectorError:
        raise FetchError(f"could not connect to {host} to fetch {label}") from None
    except aiohttp.ClientResponseError as exc:
        raise FetchError(f"{host} answered HTTP {exc.status} for {label}") from None
    except (aiohttp.ClientError, OSError):
        raise FetchError(f"could not fetch {label} from {host}: the connection failed") from None
    return await asyncio.to_thread(load_input_image, data, label=label, max_bytes=max_bytes)


async def fetch_images(
    urls: Sequence[str],
    *,
    allowed_hosts: Sequence[str],
    labels: Sequence[str] | None = None,
    max_bytes: int = MAX_INPUT_BYTES,
    timeout: float = 10.0,
    ssl: SSLArg = None,
    connector: aiohttp.BaseConnector | None = None,
) -> list[InputImage]:
    """Fetch several image URLs at once in a session of their own (closed after, with `connector`).

    Labels default to the shortened URLs. If any fails, the others are cancelled and the first
    failure (in completion order) is raised.
    """
    names = list(labels) if labels is not None else [short_url(u) for u in urls]
    if len(names) != len(urls):
        raise ValueError("fetch_images needs one label per URL")
    for url in urls:
        check_image_url(url, allowed_hosts)  # refuse a bad link before opening any connection
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(fetch_image(session, url, allowed_hosts=allowed_hosts,
                                                       max_bytes=max_bytes, timeout=timeout, label=name,
                                                       ssl=ssl))
                         for url, name in zip(urls, names, strict=True)]
        except BaseExceptionGroup as group_error:
            first = group_error.exceptions[0]
            if isinstance(first, InputImageError):
                raise first from None
            raise
    return [t.result() for t in tasks]


async def _download(session: aiohttp.ClientSession, target: URL, *, allowed_hosts: Sequence[str],
                    max_bytes: int, timeout: float, label: str, ssl: SSLArg) -> bytes:
    """The body of `target` after at most MAX_REDIRECTS same-host redirects, at most `max_bytes` long."""
    origin = _shown(target.raw_host or "")
    per_request = aiohttp.ClientTimeout(total=timeout)
    for hop in range(MAX_REDIRECTS + 1):
        async with session.get(target, allow_redirects=False, timeout=per_request, headers=_HEADERS,
                               raise_for_status=False, ssl=True if ssl is None else ssl) as resp:
            if resp.status in REDIRECT_STATUSES:
                if hop == MAX_REDIRECTS:
                    raise FetchError(f"{origin} redirected {label} more than {MAX_REDIRECTS} times")
                target = _redirect_target(resp, target, allowed_hosts)
                continue
            if resp.status != 200:
                reason = f" ({resp.reason})" if resp.reason else ""
                raise FetchError(f"{origin} answered HTTP {resp.status}{reason} for {label}")
            return await _read_body(resp, origin=origin, max_bytes=max_bytes, label=label)
    raise AssertionError("unreachable")  # pragma: no cover


def _redirect_target(resp: aiohttp.ClientResponse, current: URL, allowed_hosts: Sequence[str]) -> URL:
    """Where a redirect points, if it stays https on the same allowed host; else FetchError."""
    origin = _shown(current.raw_host or "")
    location = resp.headers.get("Location", "").strip()
    if not location:
        raise FetchError(f"{origin} answered a redirect without saying where to")
    try:
        target = current.join(URL(location))
    except (ValueError, TypeError, UnicodeError):
        raise FetchError(f"{origin} redirected to an invalid link") from None
    new_host = (target.raw_host or "").lower()
    if new_host != (current.raw_host or "").lower():
        raise FetchError(f"{origin} redirected to another host ({_shown(new_host)}), which is not followed")
    try:
        return check_image_url(target, allowed_hosts)
    except FetchError as exc:
        raise FetchError(f"{origin} redirected to a link that is refused: {exc}") from None


async def _read_body(resp: aiohttp.ClientResponse, *, origin: str, max_bytes: int, label: str) -> bytes:
    """Stream the body, stopping as soon as it is longer than `max_bytes`."""
    limit = format_size(max_bytes)
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        _drop(resp)
        raise FetchError(f"{label} from {origin} is {format_size(declared, round_up=True)}; "
                         f"the limit is {limit}")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            _drop(resp)
            raise FetchError(f"{label} from {origin} is more than {limit}, the size limit")
    return bytes(body)


def _drop(resp: aiohttp.ClientResponse) -> None:
    """Abort the connection: a TLS close would go on receiving (and discarding) the rest of the body."""
    connection = resp.connection
    transport = connection.transport if connection is not None else None
    if transport is not None:
        transport.abort()
    resp.close()


def _normalised(hosts: Sequence[str]) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in hosts if h.strip())


def _allowed_text(hosts: Sequence[str]) -> str:
    return ", ".join(sorted(_normalised(hosts))) or "none"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _shown(host: str) -> str:
    host = host.lower()
    return host if len(host) <= _HOST_SHOWN else host[: _HOST_SHOWN - 1] + "…"
