"""Snowflakes, permission bits, Discord object builders and the records the stand-in keeps."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import itertools
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

Json = dict[str, Any]
T = TypeVar("T")

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_MESSAGES
# What an app may do in its DM with a user (``app_permissions`` of a DM interaction).
DM_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
)
# The bot's member overwrite that ``deny_bot`` puts on a channel, per Discord error code.
MISSING_ACCESS, MISSING_PERMISSIONS, CANNOT_DM = 50001, 50013, 50007
DENY_MESSAGES = (
    SEND_MESSAGES
    | SEND_MESSAGES_IN_THREADS
    | EMBED_LINKS
    | ATTACH_FILES
    | ADD_REACTIONS
    | READ_MESSAGE_HISTORY
    | MANAGE_MESSAGES
)
DENY_BITS = {MISSING_ACCESS: VIEW_CHANNEL, MISSING_PERMISSIONS: DENY_MESSAGES}
ERROR_MESSAGES = {
    MISSING_ACCESS: "Missing Access",
    MISSING_PERMISSIONS: "Missing Permissions",
    CANNOT_DM: "Cannot send messages to this user",
}

# Message flags.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15

# Gateway intents used to filter dispatches.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12


class SnowflakeFactory:
    """Time-based snowflakes (ms since the Discord epoch << 22 | worker | process | increment)."""

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._worker = worker & 0x1F
        self._process = process & 0x1F
        self._increment = itertools.count()

    def next(self) -> str:
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            value = (
                (ms << 22) | (self._worker << 17) | (self._process << 12) | (next(self._increment) & 0xFFF)
            )
            value = max(value, self._last + 1)
            self._last = value
            return str(value)


def snowflake_time(snowflake: str | int) -> dt.datetime:
    ms = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def error_body(code: int, message: str, errors: Json | None = None) -> Json:
    body: Json = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def field_error(path: list[str | int], code: str, message: str) -> Json:
    """One Discord ``errors`` entry, nested along ``path``."""
    node: Json = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path):
        node = {str(part): node}
    return node


def merge_errors(target: Json, extra: Json) -> Json:
    for key, value in extra.items():
        if key == "_errors":
            target.setdefault("_errors", []).extend(value)
        else:
            merge_errors(target.setdefault(key, {}), value)
    return target


def user_id_of(user: Json | str) -> str:
    """A user's id from its user object or the id itself."""
    return str(user["id"]) if isinstance(user, dict) else str(user)


def user_object(user_id: str, name: str, *, bot: bool = False) -> Json:
    return {
        "id": user_id,
        "username": name,
        "global_name": None if bot else name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "primary_guild": None,
    }


def role_object(
    role_id: str, name: str, permissions: int, position: int, *, bot_id: str | None = None
) -> Json:
    role: Json = {
        "id": role_id,
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": bot_id is not None,
        "mentionable": False,
        "flags": 0,
    }
    if bot_id is not None:
        role["tags"] = {"bot_id": bot_id}
    return role


def member_object(user: Json, role_ids: list[str], joined_at: str) -> Json:
    return {
        "user": copy.deepcopy(user),
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": list(role_ids),
        "joined_at": joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def text_channel_object(channel_id: str, guild_id: str, name: str, position: int = 0) -> Json:
    return {
        "id": channel_id,
        "type": 0,
        "guild_id": guild_id,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "flags": 0,
    }


def png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


@dataclass
class UploadedFile:
    """One ``files[n]`` part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def index(self) -> int | None:
        inside = self.field[self.field.find("[") + 1 : self.field.rfind("]")] if "[" in self.field else ""
        return int(inside) if inside.isdigit() else None


@dataclass
class RecordedRequest:
    """One HTTP request the stand-in answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    status: int
    time: float
    response: Any = None
    route: str | None = None


class Refusal(NamedTuple):
    """A request the stand-in refused with 403 (``code`` is Discord's JSON error code)."""

    method: str
    path: str
    code: int


@dataclass
class Violation:
    """A request that broke one of Discord's rules (the stand-in answered it the way Discord would)."""

    kind: str
    message: str
    method: str = ""
    path: str = ""
    detail: Any = None
    time: float = field(default_factory=time.monotonic)

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method else ""
        return f"[{self.kind}] {self.message}{where}"


class Notifier:
    """Wakes every waiter whenever the stand-in's state changes; waiters re-check their condition."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()

    def notify(self) -> None:
        for event in self._waiters:
            event.set()

    async def wait_for(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = asyncio.Event()
        self._waiters.add(event)
        try:
            while True:
                event.clear()
                result = check()
                if result is not None:
                    return result
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            self._waiters.discard(event)
