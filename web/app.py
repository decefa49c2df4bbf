"""The gallery as an aiohttp application: routes, error pages instead of tracebacks, the headers every
response carries, and starting it on `web.host`:`web.port` beside the bot or alone.

    runner = await start_server(settings, queue.database)   # serves until
    await runner.cleanup()
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from db.database import Database
from db.gallery import Gallery
from imaginebot.core.config import ConfigError, Settings
from web import auth, views
from web.context import CONTEXT, WebContext, error_page
from web.discord_oauth import DiscordOAuth
from web.signing import MIN_SECRET, Signer

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS = {
    # No third-party anything: pages, images, the stylesheet and the copy button all come from here.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self' {discord}; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # share links are in URLs: never hand them to other sites
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NAMES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Not allowed", 413: "Too large"}


@web.middleware
async def pages_for_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is a page that says what happened; a bug is logged and shown as a plain 500 page."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title = NAMES.get(exc.status, exc.reason)
        message = {
            404: "There is nothing at this address.",
            405: "This address does not take that kind of request.",
        }.get(exc.status, exc.reason)
        response = error_page(request, exc.status, title, message, home="/")
    except Exception:
        log.exception("gallery page %s failed", request.path)
        response = error_page(
            request,
            500,
            "Something went wrong",
            "The page could not be made. Please try again later.",
            home="/",
        )
    return response


def _security_headers(discord_origin: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    headers = {k: v.replace("{discord}", discord_origin) for k, v in SECURITY_HEADERS.items()}

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if response.content_type == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")

    return on_prepare


def make_app(ctx: WebContext) -> web.Application:
    app = web.Application(middlewares=[pages_for_errors], client_max_size=64 * 1024)
    app[CONTEXT] = ctx
    auth.add_routes(app)
    views.add_routes(app)
    app.router.add_static("/static", STATIC, append_version=True)
    origin = ""
    if ctx.oauth is not None:
        origin = "/".join(ctx.oauth.api_base_url.split("/")[:3])
    app.on_response_prepare.append(_security_headers(origin))

    async def http_client(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            ctx.http = session
            yield
            ctx.http = None

    app.cleanup_ctx.append(http_client)
    return app


def public_url(settings: Settings, bound_port: int | None = None) -> str:
    if settings.web.public_url:
        return settings.web.public_url
    host = settings.web.host if settings.web.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{bound_port or settings.web.port}"


async def build_context(settings: Settings, database: Database, *, port: int | None = None) -> WebContext:
    """The gallery's context: its signing key (`web.secret`, else the one kept in the database) and the
    sign-in settings (None when `web.client_id` or DISCORD_CLIENT_SECRET is missing)."""
    gallery = Gallery(database)
    if settings.web.secret and len(settings.web.secret) < MIN_SECRET:  # (the value is never echoed)
        raise ConfigError(f"configuration key 'web.secret' must be at least {MIN_SECRET} characters long")
    secret = settings.web.secret or await gallery.signing_key("web")
    url = public_url(settings, port)
    client_secret = Settings.discord_client_secret()
    oauth = None
    if settings.web.client_id and client_secret is not None:
        oauth = DiscordOAuth(
            settings.discord.api_base_url, settings.web.client_id, client_secret.get_secret_value(),
            f"{url}/auth/callback",
        )  # fmt: skip
    return WebContext(
        gallery=gallery,
        signer=Signer(secret),
        oauth=oauth,
        operators=frozenset(settings.admin.user_ids),
        public_url=url,
        page_size=settings.web.page_size,
        share_days=settings.web.share_days,
        secure_cookies=url.startswith("https://"),
    )


async def start_server(settings: Settings, database: Database) -> web.AppRunner:
    """Serve the gallery on web.host:web.port; returns the runner (`await runner.cleanup()` stops it)."""
    ctx = await build_context(settings, database)
    runner = web.AppRunner(make_app(ctx), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.web.host, settings.web.port).start()
    except BaseException:
        await runner.cleanup()
        raise
    if not settings.web.public_url and settings.web.port == 0 and runner.addresses:
        ctx.public_url = public_url(settings, int(runner.addresses[0][1]))  # the port the system chose
        if ctx.oauth is not None:
            ctx.oauth = replace(ctx.oauth, redirect_uri=f"{ctx.public_url}/auth/callback")
    if ctx.oauth is None:
        log.warning("web gallery: sign-in is off (set web.client_id and DISCORD_CLIENT_SECRET)")
    log.info("web gallery on %s", ctx.public_url)
    return runner
