"""``DiscordStandIn``: the test-facing object tying the REST API, gateway and state together."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from .actions import MemberActions
from .bot_routes import BotRoutes, serve_attachment
from .gateway import Connection, Gateway
from .interaction_routes import InteractionRoutes
from .interactions import InteractionHandle, find_component
from .models import Json, RecordedRequest, Refusal, Violation, user_id_of
from .oauth import OAuth2
from .rest import API_PREFIX, MAX_REQUEST_BYTES, Injection, RestApi
from .spec import SpecValidator, default_validator
from .world import World


class DiscordStandIn(MemberActions):
    """A local Discord (REST v10 + gateway v10) for driving a real discord.py bot in tests."""

    def __init__(
        self,
        *,
        callback_deadline: float = 3.0,
        token_ttl: float = 900.0,
        attachment_size_limit: int = 10 * 1024 * 1024,
        nonce_window: float = 300.0,
        heartbeat_interval_ms: int = 41_250,
        allowed_intents: int | None = None,
        spec: SpecValidator | None = None,
    ) -> None:
        self.callback_deadline = callback_deadline  # read when each interaction is created
        self.token_ttl = token_ttl
        self._port = 0
        self._world = World(base_url=lambda: self.base_url, nonce_window=nonce_window)
        self._api = RestApi(self._world, spec or default_validator(), attachment_size_limit)
        self._gateway = Gateway(
            self._world,
            resume_url=lambda: f"ws://127.0.0.1:{self._port}/resume",
            heartbeat_interval_ms=heartbeat_interval_ms,
            allowed_intents=allowed_intents,
        )
        self._world.dispatch = self._gateway.dispatch
        self._world.guild_joined = self._gateway.guild_create
        BotRoutes(self._api, self._world, lambda: self.gateway_url)
        InteractionRoutes(self._api, self._world)
        self.oauth = OAuth2(self._world)  # "Sign in with Discord": see oauth.py
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> Self:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/", self._gateway.handle)
        app.router.add_get("/resume", self._gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_get(API_PREFIX + "/oauth2/authorize", self.oauth.authorize)
        app.router.add_post(API_PREFIX + "/oauth2/token", self.oauth.token)
        app.router.add_get(API_PREFIX + "/users/@me", self._users_me)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def _users_me(self, request: web.Request) -> web.StreamResponse:
        return await self.oauth.users_me(request, self._api.handle)

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        return await serve_attachment(self._world, request)

    async def stop(self) -> None:
        await self._gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def attachment_size_limit(self) -> int:
        """Per-file upload limit (bytes); bigger uploads get 413 / 40005."""
        return self._api.attachment_size_limit

    @attachment_size_limit.setter
    def attachment_size_limit(self, value: int) -> None:
        self._api.attachment_size_limit = value

    # -- addresses & identity --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/"

    @property
    def token(self) -> str:
        return self._world.token

    @property
    def application_id(self) -> str:
        return self._world.application_id

    @property
    def guild_id(self) -> str:
        """The default guild (the one the stand-in starts with)."""
        return self._world.guild_id

    @property
    def channel_id(self) -> str:
        """The default guild's text channel."""
        return self._world.channel_id

    @property
    def guild_ids(self) -> list[str]:
        """Every guild the bot is in, the default one first."""
        return list(self._world.guilds)

    @property
    def bot_user(self) -> Json:
        return copy.deepcopy(self._world.bot_user)

    @property
    def owner(self) -> Json:
        """The default guild's owner (has every permission there; each ``add_guild`` has its own)."""
        return copy.deepcopy(self._world.owner_user)

    # -- guilds, channels & members --------------------------------------------------------------------

    def add_guild(self, name: str) -> Json:
        """Another guild with the bot in it: its own owner, default text channel and roles (@everyone,
        "Manager" with MANAGE_GUILD, the bot's role).  A connected bot gets GUILD_CREATE; one that
        connects later finds it in READY.  Returns ``{"id", "channel_id", "name", "owner" (user object),
        "manager_role_id", "bot_role_id"}``."""
        guild = self._world.add_guild(name)
        return {
            "id": guild.id,
            "channel_id": guild.channel_id,
            "name": guild.name,
            "owner": copy.deepcopy(self._world.users[guild.owner_id]),
            "manager_role_id": guild.manager_role_id,
            "bot_role_id": guild.bot_role_id,
        }

    def add_channel(self, name: str, *, guild_id: str | None = None, nsfw: bool = False) -> str:
        """A new text channel in ``guild_id`` (default guild), marked NSFW (age-restricted) with ``nsfw``;
        dispatches CHANNEL_CREATE; returns its id."""
        return str(self._world.add_channel(name, guild_id, nsfw=nsfw)["id"])

    def add_member(
        self,
        name: str,
        *,
        guild_id: str | None = None,
        manage_guild: bool = False,
        administrator: bool = False,
    ) -> Json:
        """A new user, member of ``guild_id`` (default guild) with the "Manager" role (``manage_guild``)
        and/or an administrator role; returns its user object (``id`` is a snowflake string)."""
        return self._world.add_member(name, guild_id, manage_guild=manage_guild, administrator=administrator)

    def join(
        self, user: Json | str, guild_id: str, *, manage_guild: bool = False, administrator: bool = False
    ) -> None:
        """Make an existing user a member of another guild too, with that guild's roles as given
        (permissions are per guild); dispatches GUILD_MEMBER_ADD.  ValueError if already a member."""
        self._world.join(user_id_of(user), guild_id, manage_guild=manage_guild, administrator=administrator)

    def permissions(
        self, user: Json | str, *, guild_id: str | None = None, channel_id: str | None = None
    ) -> int:
        """``user``'s guild-wide permissions in ``guild_id`` (default guild), or with ``channel_id`` their
        permissions in that channel including overwrites (what an interaction there carries)."""
        return self._world.permissions(user_id_of(user), guild_id, channel_id)

    def dm_channel_id(self, user: Json | str) -> str:
        """The id of the bot's DM channel with ``user`` (opened on first use, as Discord does)."""
        return str(self._world.open_dm(user_id_of(user))["id"])

    # -- channels the bot may not use -------------------------------------------------------------------

    def deny_bot(self, channel_id: str, code: int = 50013) -> None:
        """Take the bot's rights in a guild channel away: 50001 ("Missing Access", no VIEW_CHANNEL) or
        50013 ("Missing Permissions", can see it but not send or read history).  Bot-token requests on
        the channel's messages (GET list/one, POST, PATCH, DELETE) and typing then get 403 with that code
        (with 50001 GET /channels/{id} too), recorded in ``refused``; interaction callbacks and webhooks
        still work.  The bot's member overwrite on the channel shows it (CHANNEL_UPDATE, and the
        ``app_permissions`` of interactions there)."""
        self._world.deny_bot(channel_id, code)

    def allow_bot(self, channel_id: str) -> None:
        """Undo ``deny_bot``."""
        self._world.allow_bot(channel_id)

    @property
    def refused(self) -> list[Refusal]:
        """Every request answered 403, in order: ``Refusal(method, path, code)`` named tuples."""
        return self._world.refused

    # -- records -------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._world.requests

    @property
    def violations(self) -> list[Violation]:
        return self._world.violations

    @property
    def gateway_connections(self) -> list[Connection]:
        return self._gateway.connections

    @property
    def interactions(self) -> list[InteractionHandle]:
        return list(self._world.interactions.values())

    def messages(self, channel_id: str | None = None, *, include_deleted: bool = False) -> list[Json]:
        """Every message in the channel, oldest first (ephemeral ones included, see ``flags``)."""
        return self._world.channel_messages_list(
            channel_id or self.channel_id, include_deleted=include_deleted
        )

    def message(self, message_id: str) -> Json:
        return self._world.messages[message_id]

    def dm_messages(self, user: Json | str) -> list[Json]:
        """Messages the bot sent to ``user`` in their DM channel."""
        return self._world.channel_messages_list(self._world.open_dm(user_id_of(user))["id"])

    def block_dms(self, user: Json | str) -> None:
        """Make ``user`` refuse DMs: the bot gets 403 / 50007 "Cannot send messages to this user"."""
        self._world.dm_blocked.add(user_id_of(user))

    def unblock_dms(self, user: Json | str) -> None:
        self._world.dm_blocked.discard(user_id_of(user))

    def commands(self, guild_id: str | None = None) -> list[Json]:
        """Commands registered by the last sync: global ones, or the guild's when ``guild_id`` is given."""
        return copy.deepcopy(self._world.commands.get(guild_id, []))

    def find_button(self, message: Json, label: str | None = None, *, custom_id: str | None = None) -> Json:
        return find_component(
            self._world.messages.get(message["id"], message), label=label, custom_id=custom_id
        )

    # -- failure injection -----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        retry_after: float = 0.5,
        count: int = 1,
        *,
        is_global: bool = False,
        scope: str = "user",
    ) -> Injection:
        """Answer the next ``count`` requests matching ``method`` ("*" for any) and ``path_regex`` (searched
        in the path after ``/api/v10``) with ``status`` (429 with Discord's body/headers, or 5xx)."""
        injection = Injection(
            method.upper(), re.compile(path_regex), status, retry_after, count, is_global, scope
        )
        self._api.injections.append(injection)
        return injection

    async def drop_gateway(
        self, code: int | None = 1001, *, mode: str = "close", wait: bool = True, timeout: float = 15.0
    ) -> Connection | None:
        """Disconnect the bot (see ``Gateway.drop`` for modes); with ``wait`` return the connection it
        came back on (``kind`` is "resume" or "identify")."""
        before = self._gateway.ready_count
        dropped = await self._gateway.drop(code=code, mode=mode)
        if not wait:
            return None

        def back() -> Connection | None:
            live = self._gateway.live
            return live if self._gateway.ready_count > before and live is not dropped else None

        return await self._world.notifier.wait_for(back, timeout, "the bot to reconnect to the gateway")

    # -- waiting ---------------------------------------------------------------------------------------

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until a bot has IDENTIFYed (or RESUMEd) and holds a live gateway session."""
        await self._world.notifier.wait_for(lambda: self._gateway.live, timeout, "a bot to connect")

    async def wait_for_message(
        self,
        predicate: Callable[[Json], bool] | None = None,
        timeout: float = 5.0,
        channel_id: str | None = None,
    ) -> Json:
        """The oldest message satisfying ``predicate``; re-checked after every create/edit/delete."""
        channel = channel_id or self.channel_id

        def check() -> Json | None:
            return next((m for m in self.messages(channel) if (predicate or bool)(m)), None)

        return await self._world.notifier.wait_for(check, timeout, "a matching message")

    async def wait_for_violation(self, kind: str | None = None, timeout: float = 5.0) -> Violation:
        def check() -> Violation | None:
            return next((v for v in self.violations if kind is None or v.kind == kind), None)

        return await self._world.notifier.wait_for(check, timeout, f"a {kind or 'rule'} violation")

    async def wait_for_request(
        self, method: str, path_regex: str, timeout: float = 5.0, *, status: int | None = None
    ) -> RecordedRequest:
        pattern = re.compile(path_regex)

        def check() -> RecordedRequest | None:
            return next(
                (
                    r
                    for r in self.requests
                    if r.method == method.upper() and pattern.search(r.path) and status in (None, r.status)
                ),
                None,
            )

        return await self._world.notifier.wait_for(check, timeout, f"{method} {path_regex}")

    async def wait_for_commands(self, timeout: float = 10.0, *, guild_id: str | None = None) -> list[Json]:
        """Commands once any sync registered some (with ``guild_id``: once that guild's did)."""

        def check() -> list[Json] | None:
            if guild_id is not None:
                return copy.deepcopy(self._world.commands.get(guild_id)) or None
            return [c for scope in self._world.commands.values() for c in scope] or None

        where = f" for guild {guild_id}" if guild_id else ""
        return await self._world.notifier.wait_for(check, timeout, f"a command sync{where}")
