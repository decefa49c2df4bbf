"""Channels' messages: create/edit/delete as Discord does them, attachments, mentions and nonces."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from .guilds import Guild
from .messages import guess_type, normalise_embed, number_components, snapshot, wire_message
from .models import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    Json,
    Notifier,
    SnowflakeFactory,
    UploadedFile,
    iso_now,
    png_size,
)

if TYPE_CHECKING:
    from .interactions import InteractionHandle

EDITABLE_FLAGS = 1 << 2  # SUPPRESS_EMBEDS is the only flag an edit may change


class MessageStore:
    """Mixed into ``World``: every channel's messages."""

    ids: SnowflakeFactory
    bot_user: Json
    users: dict[str, Json]
    channels: dict[str, Json]
    guilds: dict[str, Guild]
    messages: dict[str, Json]
    uploads: dict[str, Json]
    channel_messages: dict[str, list[str]]
    nonces: dict[tuple[str, str], tuple[str, float]]
    nonce_window: float
    notifier: Notifier
    dispatch: Callable[[str, Json], None]
    _base_url: Callable[[], str]

    def guild_of(self, channel_id: str) -> str | None:
        """The guild ``channel_id`` belongs to (None for a DM channel or an unknown one)."""
        channel = self.channels.get(channel_id)
        return None if channel is None else channel.get("guild_id")

    # -- DM channels ------------------------------------------------------------------------------------

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

    def upload_attachment(self, channel_id: str, upload: UploadedFile) -> Json:
        """A file a user attaches to an attachment option: served by the CDN like a message's."""
        attachment = self._attachment(upload, None, channel_id)
        self.uploads[attachment["id"]] = attachment
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
            target_channel = str(reference.get("channel_id") or channel_id)
            message["message_reference"] = {
                "type": reference.get("type", 0),
                "message_id": str(reference["message_id"]),
                "channel_id": target_channel,
            }
            if (reference_guild := self.guild_of(target_channel)) is not None:
                message["message_reference"]["guild_id"] = reference_guild
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
            event: Json = {"id": message["id"], "channel_id": message["channel_id"]}
            if (guild_id := self.guild_of(message["channel_id"])) is not None:
                event["guild_id"] = guild_id
            self.dispatch("MESSAGE_DELETE", event)
        self.notifier.notify()

    def gateway_message(self, message: Json) -> Json:
        data = wire_message(message)
        guild_id = self.guild_of(message["channel_id"])
        if guild_id is None:
            return data
        data["guild_id"] = guild_id
        member = copy.deepcopy(self.guilds[guild_id].members[self.bot_user["id"]])
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
