"""Bot-authenticated REST routes: users, application, gateway, guild, channels, messages, commands."""

from __future__ import annotations

import copy
from collections.abc import Callable

from aiohttp import web

from .guilds import Guild
from .interaction_routes import TRUE_VALUES, check_message_body
from .messages import wire_message
from .models import CANNOT_DM, ERROR_MESSAGES, FLAG_EPHEMERAL, MISSING_ACCESS, Json, field_error
from .rest import ApiError, Ctx, Reply, RestApi
from .rules import check_commands
from .world import World

APP = "/applications/{application_id}"
MESSAGE = "/channels/{channel_id}/messages/{message_id}"


class BotRoutes:
    def __init__(self, api: RestApi, world: World, gateway_url: Callable[[], str]) -> None:
        self.world = world
        self._gateway_url = gateway_url
        add = api.add
        add("GET", "/users/@me", self.me)
        add("GET", "/users/{user_id}", self.user)
        add("POST", "/users/@me/channels", self.open_dm)
        add("GET", "/users/@me/guilds", self.my_guilds)
        add("GET", "/oauth2/applications/@me", self.application)
        add("GET", "/applications/@me", self.application)
        add("GET", "/gateway", self.gateway, auth="none")
        add("GET", "/gateway/bot", self.gateway)
        add("GET", "/guilds/{guild_id}", self.guild)
        add("GET", "/guilds/{guild_id}/channels", self.guild_channels)
        add("GET", "/guilds/{guild_id}/roles", self.guild_roles)
        add("GET", "/guilds/{guild_id}/members/{user_id}", self.guild_member)
        add("GET", "/channels/{channel_id}", self.channel)
        add("POST", "/channels/{channel_id}/typing", self.typing)
        add("GET", "/channels/{channel_id}/messages", self.list_messages)
        add("POST", "/channels/{channel_id}/messages", self.create_message)
        add("GET", MESSAGE, self.get_message)
        add("PATCH", MESSAGE, self.edit_message)
        add("DELETE", MESSAGE, self.delete_message)
        for scope in ("", "/guilds/{guild_id}"):
            add("GET", f"{APP}{scope}/commands", self.list_commands)
            add("PUT", f"{APP}{scope}/commands", self.overwrite_commands)
            add("POST", f"{APP}{scope}/commands", self.create_command)

    # -- identity ------------------------------------------------------------------------------------

    async def me(self, ctx: Ctx) -> Reply:
        user = copy.deepcopy(self.world.bot_user)
        user.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        return Reply(200, user)

    async def user(self, ctx: Ctx) -> Reply:
        user = self.world.users.get(ctx.params["user_id"])
        if user is None:
            raise ApiError(404, 10013, "Unknown User", kind="unknown_user")
        return Reply(200, copy.deepcopy(user))

    async def open_dm(self, ctx: Ctx) -> Reply:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        recipient = str(body.get("recipient_id"))
        if recipient not in self.world.users:
            raise ApiError(400, 50035, "Invalid Form Body", kind="unknown_user", errors=body)
        return Reply(200, copy.deepcopy(self.world.open_dm(recipient)))

    async def my_guilds(self, ctx: Ctx) -> Reply:
        bot_id = self.world.bot_user["id"]
        return Reply(200, [guild.partial(bot_id) for guild in self.world.guilds.values()])

    async def application(self, ctx: Ctx) -> Reply:
        world = self.world
        return Reply(
            200,
            {
                "id": world.application_id,
                "name": world.bot_user["username"],
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": copy.deepcopy(world.owner_user),
                "team": None,
                "bot": copy.deepcopy(world.bot_user),
                "hook": True,
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "tags": [],
                "approximate_guild_count": len(world.guilds),
                "integration_types_config": {"0": {}},
            },
        )

    async def gateway(self, ctx: Ctx) -> Reply:
        body: Json = {"url": self._gateway_url().rstrip("/")}
        if ctx.path.endswith("/bot"):
            body["shards"] = 1
            body["session_start_limit"] = {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            }
        return Reply(200, body)

    # -- guild -----------------------------------------------------------------------------------------

    def _guild(self, ctx: Ctx) -> Guild:
        guild = self.world.guilds.get(ctx.params["guild_id"])
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild", kind="unknown_guild")
        return guild

    async def guild(self, ctx: Ctx) -> Reply:
        guild = self._guild(ctx)
        body = guild.guild_object()
        if ctx.query.get("with_counts") in TRUE_VALUES:
            body["approximate_member_count"] = len(guild.members)
            body["approximate_presence_count"] = 0
        return Reply(200, body)

    async def guild_channels(self, ctx: Ctx) -> Reply:
        return Reply(200, self.world.guild_channels(self._guild(ctx).id))

    async def guild_roles(self, ctx: Ctx) -> Reply:
        return Reply(200, [copy.deepcopy(r) for r in self._guild(ctx).roles.values()])

    async def guild_member(self, ctx: Ctx) -> Reply:
        member = self._guild(ctx).members.get(ctx.params["user_id"])
        if member is None:
            raise ApiError(404, 10007, "Unknown Member", kind="unknown_member")
        return Reply(200, copy.deepcopy(member))

    # -- channels & messages ---------------------------------------------------------------------------

    def _channel(self, ctx: Ctx, *, messages: bool = True) -> Json:
        """The channel, if the bot may use it: a channel ``deny_bot`` closed answers 403 with its code
        (50001 for every route; 50013 for the message and typing routes, ``messages``)."""
        channel = self.world.channels.get(ctx.params["channel_id"])
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel", kind="unknown_channel")
        code = self.world.bot_denied.get(channel["id"])
        if code is not None and (messages or code == MISSING_ACCESS):
            # A channel the bot lost access to: a normal outcome bots must handle, so no violation.
            raise ApiError(403, code, ERROR_MESSAGES[code])
        return channel

    def _message(self, ctx: Ctx) -> Json:
        self._channel(ctx)
        message = self.world.messages.get(ctx.params["message_id"])
        if (
            message is None
            or message["deleted"]
            or message["channel_id"] != ctx.params["channel_id"]
            or message["flags"] & FLAG_EPHEMERAL
        ):
            raise ApiError(404, 10008, "Unknown Message", kind="unknown_message")
        return message

    async def channel(self, ctx: Ctx) -> Reply:
        return Reply(200, copy.deepcopy(self._channel(ctx, messages=False)))

    async def typing(self, ctx: Ctx) -> Reply:
        self._channel(ctx)
        return Reply(204)

    async def list_messages(self, ctx: Ctx) -> Reply:
        channel = self._channel(ctx)
        limit = max(1, min(100, int(ctx.query.get("limit", "50"))))
        found = [
            m for m in self.world.channel_messages_list(channel["id"]) if not m["flags"] & FLAG_EPHEMERAL
        ]
        if "before" in ctx.query:
            found = [m for m in found if int(m["id"]) < int(ctx.query["before"])]
        if "after" in ctx.query:
            found = [m for m in found if int(m["id"]) > int(ctx.query["after"])][:limit]
        found = list(reversed(found))[:limit]
        return Reply(200, [wire_message(m) for m in found])

    async def create_message(self, ctx: Ctx) -> Reply:
        channel = self._channel(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        check_message_body(body, ctx.files, creating=True)
        if problem := self.world.reference_error(body):
            errors = field_error(["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", problem)
            raise ApiError(400, 50035, "Invalid Form Body", errors=errors, kind="unknown_message")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            existing = self.world.find_nonce(channel["id"], str(nonce))
            if existing is not None:
                return Reply(200, wire_message(existing))
        if channel["type"] == 1 and channel["recipients"][0]["id"] in self.world.dm_blocked:
            # A user who does not accept DMs: a normal outcome bots must handle, so no violation.
            raise ApiError(403, CANNOT_DM, ERROR_MESSAGES[CANNOT_DM])
        if (body.get("flags") or 0) & FLAG_EPHEMERAL:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                errors=field_error(
                    ["flags"], "MESSAGE_FLAGS_INVALID", "Ephemeral messages need an interaction"
                ),
                kind="limit",
            )
        message = self.world.create_message(channel["id"], body, ctx.files)
        if nonce is not None and body.get("enforce_nonce"):
            self.world.remember_nonce(channel["id"], str(nonce), message["id"])
        return Reply(200, wire_message(message))

    async def get_message(self, ctx: Ctx) -> Reply:
        return Reply(200, wire_message(self._message(ctx)))

    async def edit_message(self, ctx: Ctx) -> Reply:
        message = self._message(ctx)
        if message["author"]["id"] != self.world.bot_user["id"]:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user", kind="forbidden")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        check_message_body(body, ctx.files, creating=False)
        return Reply(200, wire_message(self.world.edit_message(message, body, ctx.files)))

    async def delete_message(self, ctx: Ctx) -> Reply:
        self.world.delete_message(self._message(ctx))
        return Reply(204)

    # -- application commands --------------------------------------------------------------------------

    def _scope(self, ctx: Ctx) -> str | None:
        if ctx.params["application_id"] != self.world.application_id:
            raise ApiError(403, 50001, "Missing Access", kind="forbidden")
        guild_id = ctx.params.get("guild_id")
        if guild_id is not None and guild_id not in self.world.guilds:
            raise ApiError(403, 50001, "Missing Access", kind="forbidden")
        return guild_id

    async def list_commands(self, ctx: Ctx) -> Reply:
        return Reply(200, copy.deepcopy(self.world.commands.get(self._scope(ctx), [])))

    async def overwrite_commands(self, ctx: Ctx) -> Reply:
        scope = self._scope(ctx)
        payload = ctx.body if isinstance(ctx.body, list) else []
        errors = check_commands(payload)
        if errors:
            raise ApiError(400, 50035, "Invalid Form Body", errors=errors, kind="limit")
        return Reply(200, self.world.overwrite_commands(scope, payload))

    async def create_command(self, ctx: Ctx) -> Reply:
        scope = self._scope(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        errors = check_commands([body])
        if errors:
            raise ApiError(400, 50035, "Invalid Form Body", errors=errors, kind="limit")
        kept = [
            c
            for c in self.world.commands.get(scope, [])
            if (c["name"], c["type"]) != (body.get("name"), body.get("type") or 1)
        ]
        self.world.overwrite_commands(scope, [*kept, body])
        created = next(c for c in self.world.commands[scope] if c["name"] == body.get("name"))
        return Reply(201, copy.deepcopy(created))


async def serve_attachment(world: World, request: web.Request) -> web.StreamResponse:
    """The CDN: serves attachment bytes at the ``url`` the stand-in gave out."""
    attachment_id = request.match_info["attachment_id"]
    uploaded = world.uploads.get(attachment_id)
    if uploaded is not None:
        return web.Response(body=uploaded["data"], content_type=uploaded["content_type"].split(";")[0])
    for message in world.messages.values():
        for attachment in message["attachments"]:
            if attachment["id"] == attachment_id:
                return web.Response(
                    body=attachment["data"], content_type=attachment["content_type"].split(";")[0]
                )
    raise web.HTTPNotFound()
