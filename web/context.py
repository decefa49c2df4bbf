"""What every request handler shares: the gallery's data, the signer, the sign-in settings, who is asking,
and rendering a template (or an error page) with the headers every page carries."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jinja2
from aiohttp import web

from db.gallery import Gallery
from web.discord_oauth import DiscordOAuth
from web.params import kind_label
from web.signing import SESSION_SECONDS, SessionData, Signer

SESSION_COOKIE = "ib_session"
STATE_COOKIE = "ib_oauth"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("web", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals["kind_label"] = kind_label


@dataclass
class WebContext:
    gallery: Gallery
    signer: Signer
    oauth: DiscordOAuth | None  # None: sign-in is not configured (no client id or secret)
    operators: frozenset[int]
    public_url: str
    page_size: int = 24
    share_days: int = 7
    secure_cookies: bool = False
    http: aiohttp.ClientSession | None = None  # opened when the app starts
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # tests move it


CONTEXT = web.AppKey("imaginebot_web", WebContext)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: a signed-in Discord user."""

    user_id: int
    name: str
    csrf: str
    operator: bool

    def may_see(self, owner_id: int) -> bool:
        return self.operator or owner_id == self.user_id


def ctx_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT]


def viewer_of(request: web.Request) -> Viewer | None:
    ctx = ctx_of(request)
    data = ctx.signer.read_session(request.cookies.get(SESSION_COOKIE))
    if data is None:
        return None
    return Viewer(data.user_id, data.name, data.csrf, data.user_id in ctx.operators)


def set_session(response: web.StreamResponse, ctx: WebContext, user_id: int, name: str) -> None:
    value = ctx.signer.session(SessionData(user_id, name, secrets.token_urlsafe(16)))
    response.set_cookie(
        SESSION_COOKIE, value, max_age=SESSION_SECONDS, httponly=True, samesite="Lax",
        secure=ctx.secure_cookies, path="/",
    )  # fmt: skip


def render(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    viewer = values.pop("viewer", None) or viewer_of(request)
    html = _templates.get_template(template).render(viewer=viewer, **values)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def error_page(request: web.Request, status: int, title: str, message: str, **links: str) -> web.Response:
    """A page that says what went wrong and where to go next (never a traceback)."""
    try:
        viewer = viewer_of(request)
    except Exception:  # a broken app state must still give a page
        viewer = None
    return render(
        request, "error.html", status=status, viewer=viewer, title=title, message=message, links=links
    )
