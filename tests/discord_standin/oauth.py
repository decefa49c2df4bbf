"""OAuth2, the authorization code grant, as Discord serves it under the API base (what "Sign in with
Discord" on a web site uses): ``GET oauth2/authorize`` → a redirect to the site with ``code`` and ``state``,
``POST oauth2/token`` (form-encoded, client id and secret in the form or HTTP Basic) → a bearer token, and
``GET users/@me`` with ``Authorization: Bearer <token>`` → the user who signed in.

There is no consent page: the test picks who is signed in to "Discord" with ``sign_in_as(user)`` (or has
the next authorization refused with ``deny_next()``), and registers the site's redirect URI first, as on
the Developer Portal (``register_redirect(uri)``). Codes are single-use and live 10 minutes, like
Discord's.
"""

from __future__ import annotations

import base64
import copy
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from .models import Json, user_id_of
from .world import World

CODE_TTL = 600.0
TOKEN_TTL = 604_800  # seconds, as Discord's access tokens
Fallback = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Grant:
    user_id: str
    redirect_uri: str
    scope: str
    expires: float
    used: bool = False


@dataclass(frozen=True)
class OAuthRequest:
    """One request to the OAuth2 endpoints and how it was answered (``status``, and ``error`` if any)."""

    endpoint: str  # "authorize", "token" or "users/@me"
    status: int
    error: str = ""


class OAuth2:
    def __init__(self, world: World) -> None:
        self._world = world
        self.client_secret = secrets.token_urlsafe(24)
        self.redirect_uris: set[str] = set()
        self.requests: list[OAuthRequest] = []
        self._signed_in: str | None = None
        self._deny = False
        self._grants: dict[str, Grant] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (user id, expiry)

    @property
    def client_id(self) -> str:
        return self._world.application_id

    # -- test-facing -----------------------------------------------------------------------------------

    def register_redirect(self, uri: str) -> None:
        self.redirect_uris.add(uri)

    def sign_in_as(self, user: Json | str | None) -> None:
        """Who is signed in to "Discord" in the browser: authorizations are granted for this user."""
        self._signed_in = None if user is None else user_id_of(user)

    def deny_next(self) -> None:
        """The next authorization is refused by the user ("Cancel" on Discord's consent page)."""
        self._deny = True

    # -- endpoints -------------------------------------------------------------------------------------

    def _note(self, endpoint: str, status: int, error: str = "") -> None:
        self.requests.append(OAuthRequest(endpoint, status, error))
        self._world.notifier.notify()

    def _page(self, status: int, error: str) -> web.Response:
        self._note("authorize", status, error)
        return web.Response(status=status, text=f"Discord OAuth2: {error}\n")

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        redirect_uri, state = q.get("redirect_uri", ""), q.get("state")
        if q.get("client_id") != self.client_id:
            return self._page(400, "unknown application (client_id)")
        if redirect_uri not in self.redirect_uris:
            return self._page(400, "invalid OAuth2 redirect_uri")
        if q.get("response_type") != "code":
            return self._page(400, "unsupported response_type")
        scope = q.get("scope", "")
        if "identify" not in scope.split():
            return self._page(400, "invalid scope: identify is needed for users/@me")
        answer: dict[str, str]
        if self._deny:
            self._deny = False
            answer = {"error": "access_denied", "error_description": "The resource owner denied the request"}
        elif self._signed_in is None:
            return self._page(401, "nobody is signed in to Discord (call sign_in_as(user))")
        else:
            code = secrets.token_urlsafe(20)
            self._grants[code] = Grant(self._signed_in, redirect_uri, scope, time.monotonic() + CODE_TTL)
            answer = {"code": code}
        if state is not None:
            answer["state"] = state
        self._note("authorize", 302, answer.get("error", ""))
        sep = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(f"{redirect_uri}{sep}{urlencode(answer)}")

    def _client(self, request: web.Request, form: dict[str, str]) -> tuple[str, str]:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                return client_id, secret
            except ValueError:
                return "", ""
        return form.get("client_id", ""), form.get("client_secret", "")

    def _token_error(self, status: int, error: str) -> web.Response:
        self._note("token", status, error)
        return web.json_response({"error": error}, status=status)

    async def token(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._token_error(400, "invalid_request")
        form = {k: str(v) for k, v in (await request.post()).items()}
        client_id, secret = self._client(request, form)
        if client_id != self.client_id or not secrets.compare_digest(secret, self.client_secret):
            return self._token_error(401, "invalid_client")
        if form.get("grant_type") != "authorization_code":
            return self._token_error(400, "unsupported_grant_type")
        grant = self._grants.get(form.get("code", ""))
        if grant is None or grant.used or time.monotonic() > grant.expires:
            return self._token_error(400, "invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._token_error(400, "invalid_grant")
        grant.used = True
        access = secrets.token_urlsafe(24)
        self._tokens[access] = (grant.user_id, time.monotonic() + TOKEN_TTL)
        self._note("token", 200)
        return web.json_response(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": TOKEN_TTL,
                "refresh_token": secrets.token_urlsafe(24),
                "scope": grant.scope,
            }
        )

    async def users_me(self, request: web.Request, fallback: Fallback) -> web.StreamResponse:
        """``GET users/@me``: with a bearer token, the user who signed in; otherwise the bot's own route."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return await fallback(request)
        held = self._tokens.get(auth[7:])
        if held is None or time.monotonic() > held[1]:
            self._note("users/@me", 401, "invalid token")
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        self._note("users/@me", 200)
        return web.json_response(copy.deepcopy(self._world.users[held[0]]))
