"""The stand-in's guild, members, channels, messages and commands."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .messages import guess_type, normalise_embed, number_components, snapshot, wire_message
from .models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MANAGE_GUILD,
    Json,
    Notifier,
    RecordedRequest,
    SnowflakeFactory,
    UploadedFile,
    Violation,
    iso_now,
    member_object,
    png_size,
    role_object,
    text_channel_object,
    user_object,
)

if TYPE_CHECKING:
    from .interactions import InteractionHandle

EDITABLE_FLAGS = 1 << 2  # SUPPRESS_EMBEDS is the only flag an edit may change


class World:
    def __init__(self, *, base_url: Callable[[], str], nonce_window: float) -> None:
        self.ids = SnowflakeFactory()
        self.token = f"standin.{secrets.token_urlsafe(24)}"
        self.application_id = self.ids.next()
        self.bot_user = user_object(self.application_id, "ImagineStandIn", bot=True)
        self.owner_user = user_object(self.ids.next(), "guild-owner")
        self.guild_id = self.ids.next()
        self.channel_id = self.ids.next()
        self.manager_role_id = self.ids.next()
        self.bot_role_id = self.ids.next()
        self._base_url = base_url
        self.nonce_window = nonce_window
        self.roles: dict[str, Json] = {
            self.guild_id: role_object(self.guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            self.manager_role_id: role_object(self.manager_role_id, "Manager", MANAGE_GUILD, 1),
            self.bot_role_id: role_object(
                self.bot_role_id,
                self.bot_user["username"],
                BOT_ROLE_PERMISSIONS,
                2,
                bot_id=self.bot_user["id"],
            ),
        }
        self.channels: dict[str, Json] = {
            self.channel_id: text_channel_object(self.channel_id, self.guild_id, "imagine"),
        }
        self.users: dict[str, Json] = {}
        self.members: dict[str, Json] = {}
        self._add_member(self.owner_user, [])
        self._add_member(self.bot_user, [self.bot_role_id])
        self.messages: dict[str, Json] = {}
        self.channel_messages: dict[str, list[str]] = {self.channel_id: []}
        self.commands: dict[str | None, list[Json]] = {}
        self.interactions: dict[str, InteractionHandle] = {}
        self.interactions_by_token: dict[str, InteractionHandle] = {}
        self.dm_blocked: set[str] = set()
        self.nonces: dict[tuple[str, str], tuple[str, float]] = {}
        self.violations: list[Violation] = []
        self.requests: list[RecordedRequest] = []
        self.notifier = Notifier()
        self.dispatch: Callable[[str, Json], None] = lambda event, data: None

    # -- guild ---------------------------------------------------------------------------------------

    def _add_member(self, user: Json, role_ids: list[str]) -> Json:
        self.users[user["id"]] = user
        member = member_object(user, role_ids, iso_now())
        self.members[user["id"]] = member
        return member

    def add_member(self, name: str, *, manage_guild: bool = False, administrator: bool = False) -> Json:
        user = user_object(self.ids.next(), name)
        role_ids = [self.manager_role_id] if manage_guild else []
        if administrator:
            admin_role = self.ids.next()
            self.roles[admin_role] = role_object(admin_role, f"admin-{name}", ADMINISTRATOR, len(self.roles))
            role_ids.append(admin_role)
        member = self._add_member(user, role_ids)
        self.dispatch("GUILD_MEMBER_ADD", {**copy.deepcopy(member), "guild_id": self.guild_id})
        return copy.deepcopy(user)

    def permissions(self, user_id: str) -> int:
        if user_id == self.owner_user["id"]:
            return ALL_PERMISSIONS
        member = self.members[user_id]
        value = int(self.roles[self.guild_id]["permissions"])
        for role_id in member["roles"]:
            value |= int(self.roles[role_id]["permissions"])
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def member_with_permissions(self, user_id: str) -> Json:
        member = copy.deepcopy(self.members[user_id])
        member["permissions"] = str(self.permissions(user_id))
        return member

    def guild_object(self) -> Json:
        return {
            "id": self.guild_id,
            "name": "Stand-in Guild",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_user["id"],
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

    def guild_channels(self) -> list[Json]:
        return [copy.deepcopy(c) for c in self.channels.values() if c.get("guild_id") == self.guild_id]

    def guild_create_payload(self, *, all_members: bool) -> Json:
        """GUILD_CREATE; like Discord, only the bot's own member unless the GUILD_MEMBERS intent is on."""
        members = self.members.values() if all_members else [self.members[self.bot_user["id"]]]
        guild = self.guild_object()
        guild.update(
            {
                "unavailable": False,
                "joined_at": self.members[self.bot_user["id"]]["joined_at"],
                "large": False,
                "lazy": True,
                "member_count": len(self.members),
                "members": [copy.deepcopy(m) for m in members],
                "channels": self.guild_channels(),
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

    # -- events & records -------------------------------------------------------------------------------

    def violate(
        self, kind: str, message: str, *, method: str = "", path: str = "", detail: Any = None
    ) -> None:
        self.violations.append(Violation(kind, message, method, path, detail))
        self.notifier.notify()

    # -- messages ------------------------------------------------------------------------------------

    def open_dm(self, user_id: str) -> Json:
        """The DM channel between the bot and ``user_id`` (created on first use, like Discord)."""
        for channel in self.channels.values():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == user_id:
                return channel
        channel_id = self.ids.next()
        channel = {
            "id": channel_id,
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [copy.deepcopy(self.users[user_id])],
        }
        self.channels[channel_id] = channel
        self.channel_messages[channel_id] = []
        return channel

    def channel_messages_list(self, channel_id: str, *, include_deleted: bool = False) -> list[Json]:
        found = (self.messages[i] for i in self.channel_messages.get(channel_id, []))
        return [m for m in found if include_deleted or not m["deleted"]]

    def _attachment(self, upload: UploadedFile, meta: Json | None, channel_id: str) -> Json:
        attachment_id = self.ids.next()
        filename = (meta or {}).get("filename") or upload.filename
        url = f"{self._base_url()}/attachments/{channel_id}/{attachment_id}/{quote(filename)}"
        attachment: Json = {
            "id": attachment_id,
            "filename": filename,
            "size": len(upload.data),
            "url": url,
            "proxy_url": url,
            "content_type": guess_type(filename, upload.content_type),
            "data": upload.data,
        }
        if meta and meta.get("description"):
            attachment["description"] = meta["description"]
        if size := png_size(upload.data):
            attachment["width"], attachment["height"] = size
        return attachment

    def _new_attachments(self, body: Json, files: list[UploadedFile], channel_id: str) -> list[Json]:
        metas = {str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)}
        out = []
        for position, upload in enumerate(files):
            index = upload.index if upload.index is not None else position
            out.append(self._attachment(upload, metas.get(str(index)), channel_id))
        return out

    def create_message(
        self,
        channel_id: str,
        body: Json,
        files: list[UploadedFile],
        *,
        flags: int = 0,
        message_type: int = 0,
        interaction: InteractionHandle | None = None,
    ) -> Json:
        message_id = self.ids.next()
        message: Json = {
            "id": message_id,
            "channel_id": channel_id,
            "type": message_type,
            "author": copy.deepcopy(self.bot_user),
            "content": body.get("content") or "",
            "embeds": [normalise_embed(e) for e in body.get("embeds") or []],
            "components": number_components(copy.deepcopy(body.get("components") or [])),
            "attachments": self._new_attachments(body, files, channel_id),
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(body.get("tts")),
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "flags": (body.get("flags") or 0) | flags,
            "edits": [],
            "deleted": False,
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        self._set_mentions(message, body.get("allowed_mentions"))
        reference = body.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id") is not None:
            referenced = self.messages.get(str(reference["message_id"]))
            message["message_reference"] = {
                "type": reference.get("type", 0),
                "message_id": str(reference["message_id"]),
                "channel_id": str(reference.get("channel_id") or channel_id),
                "guild_id": self.guild_id,
            }
            if referenced is not None and reference.get("type", 0) == 0:
                message["type"] = 19  # REPLY
                message["referenced_message"] = wire_message(referenced)
        if interaction is not None:
            message.update(interaction.message_metadata())
        message["initial"] = snapshot(message)
        if message["flags"] & FLAG_EPHEMERAL:
            for attachment in message["attachments"]:
                attachment["ephemeral"] = True
        self.messages[message_id] = message
        self.channel_messages.setdefault(channel_id, []).append(message_id)
        self.channels[channel_id]["last_message_id"] = message_id
        if not message["flags"] & FLAG_EPHEMERAL:
            self.dispatch("MESSAGE_CREATE", self.gateway_message(message))
        self.notifier.notify()
        return message

    def _set_mentions(self, message: Json, allowed: Json | None) -> None:
        """Whom the message pings, as Discord decides it: every mention in the text, narrowed by the
        request's `allowed_mentions` (absent: everything parses; `parse` names the kinds that do; `users`
        and `roles` list the ids that may be pinged besides)."""
        content = message["content"]
        parse = set(allowed.get("parse") or []) if allowed is not None else {"users", "roles", "everyone"}
        users = {str(u) for u in (allowed or {}).get("users") or []}
        roles = {str(r) for r in (allowed or {}).get("roles") or []}
        found = dict.fromkeys(re.findall(r"<@!?([0-9]+)>", content))
        message["mentions"] = [
            copy.deepcopy(self.users[user_id])
            for user_id in found
            if user_id in self.users and ("users" in parse or user_id in users)
        ]
        message["mention_roles"] = [
            r for r in dict.fromkeys(re.findall(r"<@&([0-9]+)>", content)) if "roles" in parse or r in roles
        ]
        message["mention_everyone"] = "everyone" in parse and bool(re.search(r"@(everyone|here)\b", content))

    def reference_error(self, body: Json) -> str | None:
        """Why ``body.message_reference`` cannot be honoured (Discord answers 400 50035), if it cannot."""
        reference = body.get("message_reference")
        if not isinstance(reference, dict) or reference.get("message_id") is None:
            return None
        target = self.messages.get(str(reference["message_id"]))
        if (target is None or target["deleted"]) and reference.get("fail_if_not_exists", True):
            return "Unknown message"
        return None

    def edit_message(self, message: Json, body: Json, files: list[UploadedFile]) -> Json:
        if "content" in body:
            message["content"] = body["content"] or ""
            self._set_mentions(message, body.get("allowed_mentions"))
        if "embeds" in body:
            message["embeds"] = [normalise_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = number_components(copy.deepcopy(body["components"] or []))
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or [] if isinstance(a, dict)}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
        message["attachments"].extend(self._new_attachments(body, files, message["channel_id"]))
        if isinstance(body.get("flags"), int):
            message["flags"] = (message["flags"] & ~EDITABLE_FLAGS) | (body["flags"] & EDITABLE_FLAGS)
        message["flags"] &= ~FLAG_LOADING
        message["edited_timestamp"] = iso_now()
        message["edits"].append(snapshot(message))
        if not message["flags"] & FLAG_EPHEMERAL:
            self.dispatch("MESSAGE_UPDATE", self.gateway_message(message))
        self.notifier.notify()
        return message

    def delete_message(self, message: Json) -> None:
        message["deleted"] = True
        if not message["flags"] & FLAG_EPHEMERAL:
            self.dispatch(
                "MESSAGE_DELETE",
                {"id": message["id"], "channel_id": message["channel_id"], "guild_id": self.guild_id},
            )
        self.notifier.notify()

    def gateway_message(self, message: Json) -> Json:
        data = wire_message(message)
        if self.channels[message["channel_id"]].get("guild_id") is None:
            return data
        data["guild_id"] = self.guild_id
        member = copy.deepcopy(self.members[self.bot_user["id"]])
        member.pop("user", None)
        data["member"] = member
        return data

    def find_nonce(self, channel_id: str, nonce: str) -> Json | None:
        now = time.monotonic()
        for key, (_message_id, created) in list(self.nonces.items()):
            if now - created > self.nonce_window:
                del self.nonces[key]
        hit = self.nonces.get((channel_id, nonce))
        return self.messages[hit[0]] if hit else None

    def remember_nonce(self, channel_id: str, nonce: str, message_id: str) -> None:
        self.nonces[(channel_id, nonce)] = (message_id, time.monotonic())

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

    def find_command(self, name: str) -> Json | None:
        for scope in (self.guild_id, None):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == 1:
                    return command
        return None
