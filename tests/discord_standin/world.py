"""The stand-in's world: the bot, its guilds (roles, members, channels), DM channels, messages, commands."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .guilds import Guild
from .models import (
    ADMINISTRATOR,
    DENY_BITS,
    DM_PERMISSIONS,
    Json,
    Notifier,
    RecordedRequest,
    Refusal,
    SnowflakeFactory,
    Violation,
    role_object,
    text_channel_object,
    user_object,
)
from .store import MessageStore

if TYPE_CHECKING:
    from .interactions import InteractionHandle


class World(MessageStore):
    def __init__(self, *, base_url: Callable[[], str], nonce_window: float) -> None:
        self.ids = SnowflakeFactory()
        self.token = f"standin.{secrets.token_urlsafe(24)}"
        self.application_id = self.ids.next()
        self.bot_user = user_object(self.application_id, "ImagineStandIn", bot=True)
        self._base_url = base_url
        self.nonce_window = nonce_window
        self.users: dict[str, Json] = {self.bot_user["id"]: self.bot_user}
        self.guilds: dict[str, Guild] = {}
        self.channels: dict[str, Json] = {}
        self.messages: dict[str, Json] = {}
        self.uploads: dict[str, Json] = {}  # files users attached to slash command options, by id
        self.channel_messages: dict[str, list[str]] = {}
        self.commands: dict[str | None, list[Json]] = {}
        self.interactions: dict[str, InteractionHandle] = {}
        self.interactions_by_token: dict[str, InteractionHandle] = {}
        self.dm_blocked: set[str] = set()
        self.bot_denied: dict[str, int] = {}  # channel id -> 50001 / 50013
        self.nonces: dict[tuple[str, str], tuple[str, float]] = {}
        self.violations: list[Violation] = []
        self.requests: list[RecordedRequest] = []
        self.refused: list[Refusal] = []
        self.notifier = Notifier()
        self.dispatch: Callable[[str, Json], None] = lambda event, data: None
        self.guild_joined: Callable[[Guild], None] = lambda guild: None  # GUILD_CREATE to a live bot
        default = self.add_guild("Stand-in Guild", owner_name="guild-owner", channel_name="imagine")
        self.guild_id = default.id
        self.channel_id = default.channel_id
        self.owner_user = self.users[default.owner_id]

    # -- guilds ----------------------------------------------------------------------------------------

    def guild(self, guild_id: str | None = None) -> Guild:
        """The guild ``guild_id`` (the default guild when None); LookupError if the bot is not in it."""
        guild = self.guilds.get(guild_id or self.guild_id)
        if guild is None:
            raise LookupError(f"unknown guild {guild_id} (the bot is in {sorted(self.guilds)})")
        return guild

    def add_guild(self, name: str, *, owner_name: str | None = None, channel_name: str = "general") -> Guild:
        """A guild the bot joins, with its own owner, default text channel and roles."""
        owner = user_object(self.ids.next(), owner_name or f"{name}-owner")
        self.users[owner["id"]] = owner
        guild = Guild.create(self.ids, name, owner, self.bot_user)
        self.guilds[guild.id] = guild
        self._new_channel(guild, guild.channel_id, channel_name)
        self.guild_joined(guild)
        self.notifier.notify()
        return guild

    def _new_channel(self, guild: Guild, channel_id: str, name: str) -> Json:
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == guild.id)
        channel = text_channel_object(channel_id, guild.id, name, position)
        self.channels[channel_id] = channel
        self.channel_messages[channel_id] = []
        return channel

    def add_channel(self, name: str, guild_id: str | None = None, *, nsfw: bool = False) -> Json:
        channel = self._new_channel(self.guild(guild_id), self.ids.next(), name)
        channel["nsfw"] = nsfw
        self.dispatch("CHANNEL_CREATE", copy.deepcopy(channel))
        self.notifier.notify()
        return channel

    def guild_channels(self, guild_id: str) -> list[Json]:
        return [copy.deepcopy(c) for c in self.channels.values() if c.get("guild_id") == guild_id]

    def guild_create_payload(self, guild: Guild, *, all_members: bool) -> Json:
        channels = self.guild_channels(guild.id)
        return guild.create_payload(self.bot_user["id"], channels, all_members=all_members)

    # -- members & permissions -------------------------------------------------------------------------

    def add_member(
        self,
        name: str,
        guild_id: str | None = None,
        *,
        manage_guild: bool = False,
        administrator: bool = False,
    ) -> Json:
        user = user_object(self.ids.next(), name)
        self.users[user["id"]] = user
        self.join(user["id"], guild_id, manage_guild=manage_guild, administrator=administrator)
        return copy.deepcopy(user)

    def join(
        self, user_id: str, guild_id: str | None, *, manage_guild: bool = False, administrator: bool = False
    ) -> None:
        guild = self.guild(guild_id)
        user = self.users.get(user_id)
        if user is None:
            raise LookupError(f"unknown user {user_id}")
        if user_id in guild.members:
            raise ValueError(f"user {user_id} is already a member of guild {guild.id}")
        role_ids = [guild.manager_role_id] if manage_guild else []
        if administrator:
            admin_role = self.ids.next()
            name = f"admin-{user['username']}"
            guild.roles[admin_role] = role_object(admin_role, name, ADMINISTRATOR, len(guild.roles))
            role_ids.append(admin_role)
        member = guild.add_member(user, role_ids)
        self.dispatch("GUILD_MEMBER_ADD", {**copy.deepcopy(member), "guild_id": guild.id})
        self.notifier.notify()

    def permissions(self, user_id: str, guild_id: str | None = None, channel_id: str | None = None) -> int:
        """``user_id``'s permissions: guild-wide in ``guild_id`` (default guild), or in ``channel_id``
        including its overwrites (what interactions carry; a DM channel gives DM_PERMISSIONS)."""
        if channel_id is not None:
            channel = self.channels[channel_id]
            if channel.get("guild_id") is None:
                return DM_PERMISSIONS
            return self.guilds[channel["guild_id"]].channel_permissions(user_id, channel)
        return self.guild(guild_id).base_permissions(user_id)

    # -- bot access to channels ------------------------------------------------------------------------

    def deny_bot(self, channel_id: str, code: int) -> None:
        channel = self.channels.get(channel_id)
        if channel is None or channel.get("guild_id") is None:
            raise ValueError(f"{channel_id} is not a guild channel")
        if code not in DENY_BITS:
            raise ValueError(f"code must be one of {sorted(DENY_BITS)}, not {code}")
        self.bot_denied[channel_id] = code
        overwrite = {"id": self.bot_user["id"], "type": 1, "allow": "0", "deny": str(DENY_BITS[code])}
        self._set_bot_overwrite(channel, overwrite)

    def allow_bot(self, channel_id: str) -> None:
        if self.bot_denied.pop(channel_id, None) is not None:
            self._set_bot_overwrite(self.channels[channel_id], None)

    def _set_bot_overwrite(self, channel: Json, overwrite: Json | None) -> None:
        bot_id = self.bot_user["id"]
        kept = [o for o in channel["permission_overwrites"] if not (o["type"] == 1 and o["id"] == bot_id)]
        channel["permission_overwrites"] = kept + ([overwrite] if overwrite else [])
        self.dispatch("CHANNEL_UPDATE", copy.deepcopy(channel))
        self.notifier.notify()

    # -- events & records -------------------------------------------------------------------------------

    def violate(
        self, kind: str, message: str, *, method: str = "", path: str = "", detail: Any = None
    ) -> None:
        self.violations.append(Violation(kind, message, method, path, detail))
        self.notifier.notify()

    # -- commands ------------------------------------------------------------------------------------

    def overwrite_commands(self, guild_id: str | None, payload: list[Json]) -> list[Json]:
        existing = {(c["name"], c["type"]): c for c in self.commands.get(guild_id, [])}
        result = []
        for raw in payload:
            kind = raw.get("type") or 1
            previous = existing.get((raw["name"], kind))
            permissions = raw.get("default_member_permissions")
            command: Json = {
                "id": previous["id"] if previous else self.ids.next(),
                "application_id": self.application_id,
                "version": self.ids.next(),
                "type": kind,
                "name": raw["name"],
                "name_localizations": raw.get("name_localizations"),
                "description": raw.get("description") or "",
                "description_localizations": raw.get("description_localizations"),
                "options": copy.deepcopy(raw.get("options") or []),
                "default_member_permissions": None if permissions is None else str(permissions),
                "dm_permission": raw.get("dm_permission", True),
                "contexts": raw.get("contexts"),
                "integration_types": raw.get("integration_types") or [0],
                "nsfw": bool(raw.get("nsfw")),
            }
            if guild_id is not None:
                command["guild_id"] = guild_id
            result.append(command)
        self.commands[guild_id] = result
        self.notifier.notify()
        return copy.deepcopy(result)

    def find_command(self, name: str, guild_id: str | None) -> Json | None:
        """The chat-input command ``name`` as Discord's client offers it in ``guild_id`` (a guild command
        of that guild first, then a global one usable in guilds), or in the bot's DM when None (global
        commands whose ``contexts`` include BOT_DM, or, without ``contexts``, whose ``dm_permission``
        is not false)."""
        scopes = (guild_id, None) if guild_id is not None else (None,)
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == 1 and _usable(command, scope, guild_id):
                    return command
        return None


def _usable(command: Json, scope: str | None, guild_id: str | None) -> bool:
    if scope is not None:
        return True  # a guild command, looked up in its own guild
    contexts = command.get("contexts")
    if guild_id is not None:
        return contexts is None or 0 in contexts
    return 1 in contexts if contexts is not None else command.get("dm_permission") is not False
