"""Signing in to the web gallery with Discord (OAuth2 code flow against the stand-in), the session cookie,
and signing out — over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import aiohttp
from itsdangerous import URLSafeTimedSerializer
from web_fixtures import Site, site_fixture  # noqa: F401
from yarl import URL

from web.context import SESSION_COOKIE


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form with a csrf field on the page"
    return found.group(1)


async def test_sign_in_with_discord_shows_only_my_jobs(site: Site) -> None:
    await site.make_job(site.alice, "a red fox in snow")
    await site.make_job(site.bob, "a blue whale at dawn")
    http = await site.sign_in(site.alice)
    async with http.get(site.url + "/me") as resp:
        page = await resp.text()
    assert resp.status == 200
    assert "a red fox in snow" in page and "alice" in page
    assert "a blue whale at dawn" not in page
    assert [(r.endpoint, r.status) for r in site.standin.oauth.requests] == [
        ("authorize", 302), ("token", 200), ("users/@me", 200),
    ]  # fmt: skip


async def test_signed_out_visitor_is_sent_to_sign_in_and_comes_back(site: Site) -> None:
    job = await site.make_job(site.alice, "a lighthouse")
    http = site.client()
    async with http.get(f"{site.url}/jobs/{job.id}", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"].startswith("/login?next=")
    site.standin.oauth.sign_in_as(site.alice)
    async with http.get(site.url + resp.headers["Location"]) as page:
        assert page.status == 200 and page.url.path == f"/jobs/{job.id}"
        assert "a lighthouse" in await page.text()


async def _authorize_location(http: aiohttp.ClientSession, site: Site) -> str:
    """/login, then the stand-in's authorize: the callback URL Discord sends the browser to."""
    async with http.get(site.url + "/login", allow_redirects=False) as resp:
        assert resp.status == 303
        authorize = resp.headers["Location"]
    assert authorize.startswith(site.standin.api_base_url + "/oauth2/authorize?")
    async with http.get(authorize, allow_redirects=False) as resp:
        assert resp.status == 302
        return resp.headers["Location"]


async def test_a_changed_state_is_refused(site: Site) -> None:
    site.standin.oauth.sign_in_as(site.alice)
    http = site.client()
    callback = await _authorize_location(http, site)
    forged = re.sub(r"state=[^&]+", "state=forged-state", callback)
    async with http.get(forged) as resp:
        assert resp.status == 400
        assert "Sign-in failed" in await resp.text()
    async with http.get(site.url + "/me", allow_redirects=False) as resp:
        assert resp.status == 303  # still signed out


async def test_a_callback_from_another_browser_is_refused(site: Site) -> None:
    site.standin.oauth.sign_in_as(site.alice)
    callback = await _authorize_location(site.client(), site)
    other = site.client()  # has no state cookie: a link planted by someone else
    async with other.get(callback) as resp:
        assert resp.status == 400
        assert "Please sign in again" in await resp.text()
    assert ("token", 200) not in [(r.endpoint, r.status) for r in site.standin.oauth.requests]


async def test_a_used_code_cannot_sign_in_again(site: Site) -> None:
    site.standin.oauth.sign_in_as(site.alice)
    http = site.client()
    callback = await _authorize_location(http, site)
    async with http.get(callback) as resp:
        assert resp.status == 200 and resp.url.path == "/me"
    replay = site.client()
    async with replay.get(callback) as resp:
        assert resp.status == 400


async def test_discord_refusing_the_client_secret_fails_the_sign_in_clearly(site: Site) -> None:
    site.standin.oauth.client_secret = "rotated-on-the-developer-portal"
    site.standin.oauth.sign_in_as(site.alice)
    http = site.client()
    async with http.get(site.url + "/login") as resp:
        page = await resp.text()
    assert resp.status == 502
    assert "Sign-in failed" in page and "Discord did not accept the sign-in" in page
    assert "Traceback" not in page
    assert ("token", 401, "invalid_client") in [
        (r.endpoint, r.status, r.error) for r in site.standin.oauth.requests
    ]


async def test_the_user_cancelling_on_discord_is_told_so(site: Site) -> None:
    site.standin.oauth.sign_in_as(site.alice)
    site.standin.oauth.deny_next()
    async with site.client().get(site.url + "/login") as resp:
        assert resp.status == 400
        assert "You did not allow the sign-in" in await resp.text()


async def test_sign_in_never_redirects_to_another_site(site: Site) -> None:
    http = await site.sign_in(site.alice, "/me")
    site.standin.oauth.sign_in_as(site.alice)
    async with http.get(site.url + "/login", params={"next": "//evil.example/steal"}) as resp:
        assert resp.url.host == "127.0.0.1" and resp.url.path == "/me"


async def test_forged_sessions_are_refused(site: Site) -> None:
    await site.make_job(site.alice, "the secret garden of alice")
    real = await site.sign_in(site.bob)
    bob_cookie = real.cookie_jar.filter_cookies(URL(site.url))[SESSION_COOKIE].value
    payload, _, signature = bob_cookie.rpartition(".")
    other_key = URLSafeTimedSerializer("not the server's key at all", salt="imaginebot.session")
    forged = [
        other_key.dumps([site.alice["id"], "alice", "x"]),  # signed with another key
        other_key.dumps([site.alice["id"], "a", "x"]).rpartition(".")[0] + "." + signature,  # a new payload
        "W1wiMVwiLFwiYWxpY2VcIixcInhcIl0",  # no signature at all
        payload + "." + signature[::-1],
    ]
    for value in forged:
        http = aiohttp.ClientSession(cookies={SESSION_COOKIE: value})
        site.sessions.append(http)
        async with http.get(site.url + "/me", allow_redirects=False) as resp:
            assert resp.status == 303, value
            assert resp.headers["Location"].startswith("/login")
        async with http.get(site.url + "/all", allow_redirects=False) as resp:
            assert resp.status == 303


async def test_sign_out_ends_the_session(site: Site) -> None:
    http = await site.sign_in(site.alice)
    async with http.get(site.url + "/me") as resp:
        csrf = csrf_of(await resp.text())
    async with http.post(site.url + "/logout", data={"csrf": "wrong"}) as resp:
        assert resp.status == 403
    async with http.post(site.url + "/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    async with http.get(site.url + "/me", allow_redirects=False) as resp:
        assert resp.status == 303
