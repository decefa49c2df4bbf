"""Fetching image URLs (bot.fetch) from a real HTTPS server on 127.0.0.1, with a certificate from a test CA
made by `openssl` (verification on) and the test host names (`cdn.test`, `evil.test`, …) resolved to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image
from test_image_inputs import RED, WHITE, decoded, encode, pixel, png_claiming, rotated_jpeg, two_frames

from bot.fetch import FetchError, check_attachment_size, fetch_image, fetch_images, read_attachment
from imaginebot.core.image_inputs import InputImage, InputImageError

ALLOWED = ("cdn.test", "media.test")
SERVED_NAMES = ("cdn.test", "media.test", "evil.test", "wrong.test")
CERT_NAMES = ("cdn.test", "media.test", "evil.test")  # not wrong.test: its certificate does not match
ENDLESS_CAP = 256 * 1024 * 1024

Fetch = Callable[..., Coroutine[Any, Any, InputImage]]

# -- certificates, server and client ---------------------------------------------------------------

def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a throwaway CA (ca.pem) and a server certificate for CERT_NAMES signed by it."""
    d = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=imaginebot test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=cdn.test", cwd=d)
    (d / "ext.cnf").write_text(
        "subjectAltName=" + ",".join(f"DNS:{n}" for n in CERT_NAMES) + "\n"
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@dataclass
class Server:
    port: int
    closed_port: int
    closing: asyncio.Event
    endless_done: asyncio.Event = field(default_factory=asyncio.Event)
    endless_sent: int = 0
    hits: dict[str, int] = field(default_factory=dict)


IMAGES: dict[str, bytes] = {
    "red.png": encode(Image.new("RGB", (30, 20), RED), "PNG"),
    "photo.jpg": encode(Image.new("RGB", (64, 48), (20, 120, 220)), "JPEG"),
    "pic.webp": encode(Image.new("RGB", (40, 50), (0, 200, 0)), "WEBP"),
    "anim.gif": two_frames("GIF"),
    "bomb.png": png_claiming(50_000, 50_000),
    "wide.png": encode(Image.new("RGB", (4097, 10)), "PNG"),
    "rgba.png": encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG"),
    "big.png": encode(Image.effect_noise((256, 256), 80).convert("RGB"), "PNG"),
    "fake.png": b"<!doctype html><html><body>not an image</body></html>",
    "rotated.jpg": rotated_jpeg(),
}


def _app(state: Server) -> web.Application:
    async def image(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        state.hits[name] = state.hits.get(name, 0) + 1
        if name not in IMAGES:
            raise web.HTTPNotFound()
        return web.Response(body=IMAGES[name], content_type="image/png")  # whatever the bytes are

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(body=IMAGES["red.png"], content_type="image/png")
        raise web.HTTPFound(f"/hop/{n - 1}")

    def redirect(name: str, location: str, status: int = 302) -> web.RouteDef:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=status, headers={"Location": location})
        return web.get(f"/to/{name}", handler)

    async def slow(request: web.Request) -> web.Response:
        await _wait(state.closing, 5)
        return web.Response(body=IMAGES["red.png"], content_type="image/png")

    def stall(name: str, length: int) -> web.RouteDef:
        """Headers announcing `length` bytes, then the first 20 bytes of an image, then nothing."""
        async def handler(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "image/png"})
            resp.content_length = length
            await resp.prepare(request)
            await resp.write(IMAGES["red.png"][:20])
            await _wait(state.closing, 5)
            return resp
        return web.get(f"/{name}", handler)

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        await resp.prepare(request)
        chunk = IMAGES["red.png"][:16] + bytes(64 * 1024 - 16)
        try:
            while state.endless_sent < ENDLESS_CAP:
                await resp.write(chunk)
                state.endless_sent += len(chunk)
                await asyncio.sleep(0)  # once the client is gone writes never block: let the loop see it
        except (ConnectionError, OSError):
            pass
        finally:
            state.endless_done.set()
        return resp

    app = web.Application()
    app.add_routes([
        web.get("/img/{name}", image), web.get("/hop/{n}", hop), web.get("/slow", slow),
        web.get("/endless", endless), stall("trickle", len(IMAGES["red.png"])),
        stall("declared-big", 50 * 1024 * 1024),
        redirect("same", "https://cdn.test/img/red.png", 301),
        redirect("same-upper", "https://CDN.test/img/anim.gif", 308),
        redirect("evil", "https://evil.test/img/red.png"), redirect("media", "https://media.test/img/red.png"),
        redirect("userinfo", "https://cdn.test@evil.test/img/red.png"),
        redirect("http", "http://cdn.test/img/red.png"), redirect("port", "https://cdn.test:8443/img/red.png"),
    ])
    return app


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


@pytest_asyncio.fixture(scope="module")
async def server(certs: Path) -> AsyncIterator[Server]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certs / "server.pem", certs / "server.key")
    state = Server(port=0, closed_port=_free_port(), closing=asyncio.Event())
    runner = web.AppRunner(_app(state), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    state.port = runner.addresses[0][1]
    yield state
    state.closing.set()
    await runner.cleanup()


class MapResolver(AbstractResolver):
    """The test names to the server (whatever the port), `down.test` to a closed port, others fail."""

    def __init__(self, server: Server) -> None:
        self.server = server

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host in SERVED_NAMES:
            to = self.server.port
        elif host == "down.test":
            to = self.server.closed_port
        else:
            raise OSError(f"no such test host {host}")
        return [ResolveResult(hostname=host, host="127.0.0.1", port=to, family=socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def trusting(certs: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs / "ca.pem"))


@pytest_asyncio.fixture
async def session(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=MapResolver(server))) as s:
        yield s


@pytest.fixture
def fetch(session: aiohttp.ClientSession, trusting: ssl.SSLContext) -> Fetch:
    """fetch_image on the test session, trusting the test CA; keyword arguments pass through."""
    async def run(url: str, **kw: Any) -> InputImage:
        kw.setdefault("allowed_hosts", ALLOWED)
        kw.setdefault("ssl", trusting)
        return await fetch_image(session, url, **kw)
    return run


async def refused(coro: Awaitable[object]) -> str:
    with pytest.raises(InputImageError) as err:
        await coro
    message = str(err.value)
    assert "\n" not in message
    return message


# -- accepted images -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "fmt", "size"), [
    ("red.png", "PNG", (30, 20)), ("photo.jpg", "JPEG", (64, 48)),
    ("pic.webp", "WEBP", (40, 50)), ("anim.gif", "GIF", (16, 12))])
async def test_each_format_is_fetched(fetch: Fetch, name: str, fmt: str, size: tuple[int, int]) -> None:
    result = await fetch(f"https://cdn.test/img/{name}")
    assert (result.width, result.height) == size and result.source_format == fmt
    assert decoded(result).size == size


async def test_first_frame_rotation_and_alpha(fetch: Fetch) -> None:
    assert decoded(await fetch("https://cdn.test/img/anim.gif")).getpixel((8, 6)) == RED
    rotated = await fetch("https://cdn.test/img/rotated.jpg")
    assert (rotated.width, rotated.height) == (20, 40)
    assert pixel(decoded(rotated), 10, 5)[0] > 200 and pixel(decoded(rotated), 10, 35)[2] > 200
    flat = decoded(await fetch("https://media.test/img/rgba.png"))
    assert flat.mode == "RGB" and flat.getpixel((3, 3)) == WHITE


# -- links refused before connecting ---------------------------------------------------------------

async def test_http_is_refused(fetch: Fetch) -> None:
    message = await refused(fetch("http://cdn.test/img/red.png"))
    assert message == "only https image links are accepted, not http (cdn.test/…/red.png)"


@pytest.mark.parametrize("url", ["https://evil.test/img/red.png", "https://cdn.test.evil.test/img/red.png",
                                 "https://evilcdn.test/img/red.png", "https://cdn.test./img/red.png"])
async def test_other_hosts_are_refused(fetch: Fetch, url: str) -> None:
    message = await refused(fetch(url))
    host = url.split("/")[2]
    assert message == f"images are not fetched from {host}; allowed hosts: cdn.test, media.test"


@pytest.mark.parametrize("url", ["https://cdn.test@evil.test/img/red.png", "https://cdn.test:443@evil.test/x",
                                 "https://user:pw@cdn.test/img/red.png"])
async def test_user_info_is_refused(fetch: Fetch, url: str) -> None:
    message = await refused(fetch(url))
    assert "user name" in message and url.split("@")[1].split("/")[0] in message


@pytest.mark.parametrize(("url", "expected"), [
    ("https://127.0.0.1/img/red.png", "images are not fetched from an IP address (127.0.0.1)"),
    ("https://[::1]/img/red.png", "images are not fetched from an IP address (::1)"),
    ("https://2130706433/img/red.png", "images are not fetched from 2130706433; allowed hosts: 127.0.0.1"),
    ("https://0x7f000001/img/red.png", "images are not fetched from 0x7f000001; allowed hosts: 127.0.0.1")])
async def test_ip_addresses_are_refused(fetch: Fetch, url: str, expected: str) -> None:
    assert (await refused(fetch(url, allowed_hosts=[*ALLOWED, "127.0.0.1", "::1"]))).startswith(expected)


async def test_other_port_and_bad_links_are_refused(fetch: Fetch) -> None:
    assert await refused(fetch("https://cdn.test:8443/img/red.png")) == \
        "image links must not name a port (cdn.test:8443)"
    assert "not a valid image link" in await refused(fetch("https://cdn.test:99999/x.png"))
    assert "only https" in await refused(fetch("cdn.test/img/red.png"))


# -- redirects ---------------------------------------------------------------------------------------

async def test_same_host_in_any_case_and_redirects_within_it(fetch: Fetch) -> None:
    assert (await fetch("https://CDN.Test/img/red.png", allowed_hosts=["Cdn.TEST"])).width == 30
    assert (await fetch("https://cdn.test/hop/3")).width == 30  # three relative redirects
    assert (await fetch("https://cdn.test/to/same")).width == 30
    assert (await fetch("https://cdn.test/to/same-upper")).source_format == "GIF"
    assert await refused(fetch("https://cdn.test/hop/4")) == "cdn.test redirected image more than 3 times"


@pytest.mark.parametrize(("target", "shown"), [("evil", "evil.test"), ("media", "media.test"),
                                               ("userinfo", "evil.test")])
async def test_redirect_to_another_host_is_refused(fetch: Fetch, server: Server, target: str,
                                                   shown: str) -> None:
    before = server.hits.get("red.png", 0)
    message = await refused(fetch(f"https://cdn.test/to/{target}"))
    assert message == f"cdn.test redirected to another host ({shown}), which is not followed"
    assert server.hits.get("red.png", 0) == before  # the target was never asked


async def test_redirect_to_http_or_another_port_is_refused(fetch: Fetch) -> None:
    message = await refused(fetch("https://cdn.test/to/http"))
    assert message.startswith("cdn.test redirected to a link that is refused: only https")
    message = await refused(fetch("https://cdn.test/to/port"))
    assert message.endswith("image links must not name a port (cdn.test:8443)")


# -- limits -----------------------------------------------------------------------------------------

async def test_endless_body_is_aborted(fetch: Fetch, server: Server) -> None:
    message = await refused(fetch("https://cdn.test/endless", max_bytes=256 * 1024, label="image2"))
    assert message == "image2 from cdn.test is more than 256 KiB, the size limit"
    await asyncio.wait_for(server.endless_done.wait(), 60)
    # The server could only send what fits in the socket buffers before the connection dropped.
    assert server.endless_sent < 64 * 1024 * 1024 < ENDLESS_CAP


async def test_declared_length_over_limit_is_refused(fetch: Fetch) -> None:
    message = await refused(fetch("https://cdn.test/declared-big"))
    assert message == "image from cdn.test is 50 MiB; the limit is 10 MiB"
    assert len(IMAGES["big.png"]) > 10_000
    message = await refused(fetch("https://cdn.test/img/big.png", max_bytes=10_000))
    assert message.startswith("image from cdn.test is ") and message.endswith("the limit is 9.8 KiB")


async def test_missing_gives_the_status(fetch: Fetch) -> None:
    assert await refused(fetch("https://cdn.test/img/nothing.png")) == \
        "cdn.test answered HTTP 404 (Not Found) for image"


async def test_slow_server_times_out(fetch: Fetch) -> None:
    start = time.monotonic()
    message = await refused(fetch("https://cdn.test/slow", timeout=0.3))
    assert message == "cdn.test did not send image within 0.3 s"
    assert time.monotonic() - start < 4  # well before the server's 5 s
    message = await refused(fetch("https://cdn.test/trickle", timeout=0.3, label="image2"))
    assert message == "cdn.test did not send image2 within 0.3 s"


async def test_bytes_are_checked_not_the_content_type(fetch: Fetch) -> None:
    assert await refused(fetch("https://cdn.test/img/fake.png", label="image2")) == \
        "image2 is not a PNG, JPEG, WebP or GIF file"
    message = await refused(fetch("https://cdn.test/img/bomb.png", label="image2"))
    assert message == "image2 has too many pixels; the limit is 4096×4096"
    assert await refused(fetch("https://cdn.test/img/wide.png")) == \
        "image is 4097×10 pixels; the limit is 4096×4096"


# -- connections ------------------------------------------------------------------------------------

async def test_untrusted_or_mismatched_certificate_is_refused(fetch: Fetch) -> None:
    message = await refused(fetch("https://cdn.test/img/red.png", ssl=ssl.create_default_context()))
    assert message == "could not fetch image from cdn.test: its TLS certificate is not trusted"
    message = await refused(fetch("https://wrong.test/img/red.png", allowed_hosts=["wrong.test"]))
    assert message == "could not fetch image from wrong.test: its TLS certificate is not trusted"


async def test_connection_failures(fetch: Fetch) -> None:
    assert await refused(fetch("https://down.test/x.png", allowed_hosts=["down.test"])) == \
        "could not connect to down.test to fetch image"
    assert await refused(fetch("https://nowhere.test/x.png", allowed_hosts=["nowhere.test"])) == \
        "could not connect to nowhere.test to fetch image"


# -- several URLs, attachments ---------------------------------------------------------------------

async def test_fetch_images_with_a_connector(server: Server, trusting: ssl.SSLContext) -> None:
    urls = ["https://cdn.test/img/red.png", "https://media.test/img/pic.webp"]
    connector = aiohttp.TCPConnector(resolver=MapResolver(server), ssl=trusting)
    images = await fetch_images(urls, allowed_hosts=ALLOWED, connector=connector)
    assert [(i.width, i.height) for i in images] == [(30, 20), (40, 50)]
    assert connector.closed


async def test_fetch_images_reports_a_failure(server: Server, trusting: ssl.SSLContext) -> None:
    urls = ["https://cdn.test/img/red.png", "https://cdn.test/img/gone.png"]
    with pytest.raises(FetchError) as err:
        await fetch_images(urls, allowed_hosts=ALLOWED, ssl=trusting,
                           connector=aiohttp.TCPConnector(resolver=MapResolver(server)))
    assert str(err.value) == "cdn.test answered HTTP 404 (Not Found) for cdn.test/…/gone.png"
    with pytest.raises(FetchError, match=r"^images are not fetched from evil\.test"):
        await fetch_images(["https://evil.test/a.png"], allowed_hosts=ALLOWED)
    with pytest.raises(ValueError, match="one label per URL"):
        await fetch_images(urls, allowed_hosts=ALLOWED, labels=["image"])


def test_attachments() -> None:
    check_attachment_size(10 * 1024 * 1024, "image")
    with pytest.raises(InputImageError) as err:
        check_attachment_size(12_900_000, "image2")
    assert str(err.value) == "image2 is 12.4 MiB; the limit is 10 MiB"
    assert read_attachment(IMAGES["anim.gif"], "image2").source_format == "GIF"
    with pytest.raises(InputImageError, match=r"^image2 is not a PNG"):
        read_attachment(IMAGES["fake.png"], "image2")
    assert decoded(read_attachment(IMAGES["red.png"])).getpixel((0, 0)) == RED
