"""Discord's OAuth2 authorization code flow, as the gallery's sign-in uses it (scope `identify`).

Endpoints are relative to `discord.api_base_url` (Discord serves `oauth2/authorize`, `oauth2/token` and
`users/@me` under its API base), so a proxy or a test stand-in sits in front of all three.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=15)


class SignInFailed(Exception):
    """Discord did not confirm who signed in; the message is for the person signing in."""


@dataclass(frozen=True, slots=True)
class DiscordUser:
    id: int
    name: str  # the display name, else the username


@dataclass(frozen=True, slots=True)
class DiscordOAuth:
    api_base_url: str
    client_id: int
    client_secret: str
    redirect_uri: str  # <public url>/auth/callback, registered in the Discord application's OAuth2 page

    def authorize_url(self, state: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": str(self.client_id),
                "scope": "identify",
                "state": state,
                "redirect_uri": self.redirect_uri,
                "prompt": "none",
            }
        )
        return f"{self.api_base_url}/oauth2/authorize?{query}"

    async def user_for_code(self, http: aiohttp.ClientSession, code: str) -> DiscordUser:
        """Exchange the code for a token, then ask Discord whose it is. Raises SignInFailed."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": str(self.client_id),
            "client_secret": self.client_secret,
        }
        try:
            async with http.post(f"{self.api_base_url}/oauth2/token", data=form, timeout=TIMEOUT) as resp:
                body = await _json(resp)
                if resp.status != 200 or not isinstance(body.get("access_token"), str):
                    log.warning("Discord refused the OAuth2 code: %s %s", resp.status, body.get("error"))
                    raise SignInFailed("Discord did not accept the sign-in. Please try again.")
                token = body["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{self.api_base_url}/users/@me", headers=headers, timeout=TIMEOUT) as resp:
                user = await _json(resp)
                if resp.status != 200 or not str(user.get("id", "")).isdigit():
                    log.warning("Discord refused the OAuth2 token for users/@me: %s", resp.status)
                    raise SignInFailed("Discord did not say who you are. Please try again.")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Discord's OAuth2 endpoints could not be reached: %s", exc)
            raise SignInFailed("Discord could not be reached. Please try again in a moment.") from None
        name = user.get("global_name") or user.get("username") or str(user["id"])
        return DiscordUser(int(str(user["id"])), str(name))


async def _json(resp: aiohttp.ClientResponse) -> dict[str, object]:
    try:
        data = await resp.json(content_type=None)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
