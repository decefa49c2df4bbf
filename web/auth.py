"""Sign-in with Discord (OAuth2 authorization code flow), and sign-out.

/login makes a random `state`, keeps it with the page to return to in a signed, short-lived cookie, and
sends the browser to Discord; /auth/callback accepts only that state back, exchanges the code, and keeps
who signed in in a signed session cookie (web.signing). POST /logout ends the session."""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web

from web.context import SESSION_COOKIE, STATE_COOKIE, ctx_of, error_page, set_session, viewer_of
from web.discord_oauth import SignInFailed
from web.signing import STATE_SECONDS

log = logging.getLogger(__name__)


def _local_path(path: str) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 2000:
        return "/me"
    return path


def _not_configured(request: web.Request) -> web.Response:
    return error_page(
        request, 503, "Sign-in is not set up",
        "Signing in with Discord is not configured on this server: the operator must set web.client_id "
        "and the environment variable DISCORD_CLIENT_SECRET.",
    )  # fmt: skip


async def login(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    if ctx.oauth is None:
        return _not_configured(request)
    state = secrets.token_urlsafe(24)
    response = web.HTTPSeeOther(ctx.oauth.authorize_url(state))
    response.set_cookie(
        STATE_COOKIE, ctx.signer.state(state, _local_path(request.query.get("next", "/me"))),
        max_age=STATE_SECONDS, httponly=True, samesite="Lax", secure=ctx.secure_cookies, path="/",
    )  # fmt: skip
    raise response


async def callback(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    if ctx.oauth is None or ctx.http is None:
        return _not_configured(request)
    kept = ctx.signer.read_state(request.cookies.get(STATE_COOKIE))
    state = request.query.get("state", "")
    if kept is None or not state or not hmac.compare_digest(kept[0].encode(), state.encode()):
        log.info("sign-in refused: the OAuth2 state does not match")
        return _failed(
            request,
            "The sign-in could not be checked (it expired, or was started in another "
            "browser). Please sign in again.",
        )
    if request.query.get("error"):
        return _failed(request, "You did not allow the sign-in on Discord.")
    code = request.query.get("code", "")
    if not code or len(code) > 512:
        return _failed(request, "Discord sent no sign-in code. Please sign in again.")
    try:
        user = await ctx.oauth.user_for_code(ctx.http, code)
    except SignInFailed as exc:
        return _failed(request, str(exc), status=502)
    log.info("user %d signed in to the gallery", user.id)
    response = web.HTTPSeeOther(kept[1])
    set_session(response, ctx, user.id, user.name)
    response.del_cookie(STATE_COOKIE, path="/")
    raise response


def _failed(request: web.Request, message: str, status: int = 400) -> web.Response:
    response = error_page(request, status, "Sign-in failed", message, **{"sign in again": "/login"})
    response.del_cookie(STATE_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    form = await request.post()
    if viewer is not None and not hmac.compare_digest(str(form.get("csrf", "")), viewer.csrf):
        return error_page(
            request, 403, "Form expired", "This form is out of date: reload the page and try again."
        )
    response = web.HTTPSeeOther("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login)
    app.router.add_get("/auth/callback", callback)
    app.router.add_post("/logout", logout)
