"""Guilds: roles, members, Discord's permission computation (roles, then channel overwrites) and the
guild objects the REST API and gateway hand out."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    VIEW_CHANNEL,
    Json,
    SnowflakeFactory,
    iso_now,
    member_object,
    role_object,
)


@dataclass
class Guild:
    id: str
    name: str
    owner_id: str
    channel_id: str  # the default text channel (also the system channel)
    manager_role_id: str
    bot_role_id: str
    roles: dict[str, Json] = field(default_factory=dict)  # the @everyone role's id is the guild's
    members: dict[str, Json] = field(default_factory=dict)

    @classmethod
    def create(cls, ids: SnowflakeFactory, name: str, owner: Json, bot_user: Json) -> Guild:
        guild = cls(ids.next(), name, owner["id"], ids.next(), ids.next(), ids.next())
        guild.roles = {
            guild.id: role_object(guild.id, "@everyone", EVERYONE_PERMISSIONS, 0),
            guild.manager_role_id: role_object(guild.manager_role_id, "Manager", MANAGE_GUILD, 1),
            guild.bot_role_id: role_object(
                guild.bot_role_id, bot_user["username"], BOT_ROLE_PERMISSIONS, 2, bot_id=bot_user["id"]
            ),
        }
        guild.add_member(owner, [])
        guild.add_member(bot_user, [guild.bot_role_id])
        return guild

    def add_member(self, user: Json, role_ids: list[str]) -> Json:
        member = member_object(user, role_ids, iso_now())
        self.members[user["id"]] = member
        return member

    def member(self, user_id: str) -> Json:
        member = self.members.get(user_id)
        if member is None:
            raise LookupError(f"user {user_id} is not a member of guild {self.id} ({self.name})")
        return member

    # -- permissions (https://discord.com/developers/docs/topics/permissions) -----------------------

    def base_permissions(self, user_id: str) -> int:
        """The member's guild-wide permissions: @everyone and their roles (everything for the owner or an
        administrator)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        value = int(self.roles[self.id]["permissions"])
        for role_id in self.member(user_id)["roles"]:
            value |= int(self.roles[role_id]["permissions"])
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def channel_permissions(self, user_id: str, channel: Json) -> int:
        """The member's permissions in ``channel``: base permissions, then the channel's overwrites for
        @everyone, the member's roles and the member; no VIEW_CHANNEL means no permission at all."""
        value = self.base_permissions(user_id)
        if value & ADMINISTRATOR:
            return ALL_PERMISSIONS
        overwrites = channel.get("permission_overwrites") or []
        roles = set(self.member(user_id)["roles"])

        def apply(value: int, matching: list[Json]) -> int:
            deny = allow = 0
            for overwrite in matching:
                deny |= int(overwrite["deny"])
                allow |= int(overwrite["allow"])
            return (value & ~deny) | allow

        value = apply(value, [o for o in overwrites if o["type"] == 0 and o["id"] == self.id])
        value = apply(value, [o for o in overwrites if o["type"] == 0 and o["id"] in roles])
        value = apply(value, [o for o in overwrites if o["type"] == 1 and o["id"] == user_id])
        return value if value & VIEW_CHANNEL else 0

    def member_with_permissions(self, user_id: str, channel: Json | None = None) -> Json:
        member = copy.deepcopy(self.member(user_id))
        value = (
            self.base_permissions(user_id) if channel is None else self.channel_permissions(user_id, channel)
        )
        member["permissions"] = str(value)
        return member

    # -- wire objects ---------------------------------------------------------------------------------

    def guild_object(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "system_channel_id": self.channel_id,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "widget_enabled": False,
            "application_id": None,
            "roles": [copy.deepcopy(r) for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
        }

    def create_payload(self, bot_id: str, channels: list[Json], *, all_members: bool) -> Json:
        """GUILD_CREATE; like Discord, only the bot's own member unless the GUILD_MEMBERS intent is on."""
        members = self.members.values() if all_members else [self.members[bot_id]]
        guild = self.guild_object()
        guild.update(
            {
                "unavailable": False,
                "joined_at": self.members[bot_id]["joined_at"],
                "large": False,
                "lazy": True,
                "member_count": len(self.members),
                "members": [copy.deepcopy(m) for m in members],
                "channels": channels,
                "threads": [],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "embedded_activities": [],
            }
        )
        return guild

    def partial(self, bot_id: str) -> Json:
        """The entry of GET /users/@me/guilds."""
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "banner": None,
            "owner": self.owner_id == bot_id,
            "permissions": str(self.base_permissions(bot_id)),
            "features": [],
        }
