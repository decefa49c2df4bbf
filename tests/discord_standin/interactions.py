"""Interactions the stand-in dispatches: the handle tests hold on to, and component/modal helpers."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import base64
import copy
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .messages import wire_message
from .models import FLAG_EPHEMERAL, Json, UploadedFile
from .world import World

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Callback types each interaction type may answer with.
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}


@dataclass
class Callback:
    """One interaction callback the bot sent (accepted or not)."""

    type: int
    data: Json | None
    elapsed: float  # seconds between dispatch and the callback reaching the stand-in
    status: int = 0
    files: list[UploadedFile] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class InteractionHandle:
    """What a test holds after ``slash``/``press``/``submit_modal``: the callback and resulting messages."""

    def __init__(
        self,
        world: World,
        *,
        kind: int,
        user: Json,
        data: Json,
        channel_id: str,
        callback_deadline: float,
        token_ttl: float,
        attachment_size_limit: int,
        source_message: Json | None = None,
        command_name: str | None = None,
    ) -> None:
        self._world = world
        self.id = world.ids.next()
        raw_token = f"interaction:{self.id}:{secrets.token_urlsafe(48)}".encode()
        self.token = base64.urlsafe_b64encode(raw_token).decode().rstrip("=")
        self.type = kind
        self.user = copy.deepcopy(user)
        self.channel_id = channel_id
        self.callback_deadline = callback_deadline
        self.token_ttl = token_ttl
        self.command_name = command_name
        self.source_message_id: str | None = source_message["id"] if source_message else None
        self.dispatched_at: float | None = None
        self.callbacks: list[Callback] = []
        self.original_id: str | None = None
        self.followup_ids: list[str] = []
        self.modal: Json | None = None
        self.autocomplete_choices: list[Json] | None = None
        self.guild_id = world.guild_of(channel_id)  # None: the bot's DM with the user
        self.payload: Json = {
            "id": self.id,
            "application_id": world.application_id,
            "type": kind,
            "data": data,
            "channel_id": channel_id,
            "token": self.token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": self.guild_id or "0"},
            "attachment_size_limit": attachment_size_limit,
        }
        self.payload.update(self._where(world, user["id"], channel_id))
        if source_message is not None:
            self.payload["message"] = wire_message(source_message)

    def _where(self, world: World, user_id: str, channel_id: str) -> Json:
        """The guild part (guild, member with the permissions computed in the channel, the bot's own as
        ``app_permissions``), or for a DM the ``user`` and no guild or member, as Discord sends them."""
        channel = copy.deepcopy(world.channels[channel_id])
        bot_id = world.bot_user["id"]
        if self.guild_id is None:
            return {
                "channel": channel,
                "user": copy.deepcopy(world.users[user_id]),
                "app_permissions": str(world.permissions(bot_id, channel_id=channel_id)),
                "context": 1,  # BOT_DM
            }
        guild = world.guilds[self.guild_id]
        channel["permissions"] = str(guild.channel_permissions(user_id, channel))
        return {
            "guild_id": self.guild_id,
            "guild": {"id": self.guild_id, "locale": "en-US", "features": []},
            "channel": channel,
            "member": guild.member_with_permissions(user_id, channel),
            "app_permissions": str(guild.channel_permissions(bot_id, channel)),
            "guild_locale": "en-US",
            "context": 0,  # GUILD
        }

    # -- state -----------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return 0.0 if self.dispatched_at is None else time.monotonic() - self.dispatched_at

    @property
    def expired(self) -> bool:
        return self.dispatched_at is not None and self.elapsed() > self.token_ttl

    @property
    def ack(self) -> Callback | None:
        return next((c for c in self.callbacks if c.accepted), None)

    @property
    def original(self) -> Json | None:
        return self._world.messages.get(self.original_id) if self.original_id else None

    @property
    def followups(self) -> list[Json]:
        return [self._world.messages[i] for i in self.followup_ids]

    def messages(self) -> list[Json]:
        """The original response (when it is a message) followed by every followup."""
        found = [self.original] if self.original is not None else []
        return found + [m for m in self.followups if m is not self.original]

    def ephemeral_messages(self) -> list[Json]:
        return [m for m in self.messages() if m["flags"] & FLAG_EPHEMERAL]

    def message_metadata(self) -> Json:
        """Fields Discord adds to messages created through this interaction."""
        metadata: Json = {
            "id": self.id,
            "type": self.type,
            "user": copy.deepcopy(self.user),
            "authorizing_integration_owners": {"0": self.guild_id or "0"},
        }
        extra: Json = {"webhook_id": self._world.application_id, "application_id": self._world.application_id}
        if self.type == APPLICATION_COMMAND:
            metadata.update({"name": self.command_name, "command_type": 1})
            extra["interaction"] = {
                "id": self.id,
                "type": self.type,
                "name": self.command_name,
                "user": copy.deepcopy(self.user),
            }
        elif self.source_message_id:
            metadata["interacted_message_id"] = self.source_message_id
        extra["interaction_metadata"] = metadata
        return extra

    # -- waiting ---------------------------------------------------------------------------------------

    async def wait_ack(self, timeout: float = 5.0) -> Callback:
        """The first accepted callback (its ``type``, ``data`` and ``elapsed`` since dispatch)."""
        try:
            return await self._world.notifier.wait_for(
                lambda: self.ack, timeout, f"ack of interaction {self.id}"
            )
        except TimeoutError as exc:
            rejected = [(c.type, c.status, round(c.elapsed, 3)) for c in self.callbacks]
            raise TimeoutError(f"{exc}; callbacks so far (type, status, elapsed): {rejected}") from None

    async def wait_message(
        self, predicate: Callable[[Json], bool] | None = None, timeout: float = 5.0
    ) -> Json:
        """The first original/followup message satisfying ``predicate`` (re-checked on every change)."""

        def check() -> Json | None:
            return next((m for m in self.messages() if not m["deleted"] and (predicate or bool)(m)), None)

        return await self._world.notifier.wait_for(check, timeout, f"a message from interaction {self.id}")

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} acked={self.ack is not None}>"


def walk_components(components: list[Json]) -> Iterator[Json]:
    for node in components:
        if not isinstance(node, dict):
            continue
        yield node
        yield from walk_components(node.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(node.get(key), dict):
                yield from walk_components([node[key]])


def find_component(message: Json, *, label: str | None = None, custom_id: str | None = None) -> Json:
    for component in walk_components(message.get("components") or []):
        if component.get("type") == 1:
            continue
        if (label is not None and component.get("label") == label) or (
            custom_id is not None and component.get("custom_id") == custom_id
        ):
            return component
    labels = [c.get("label") or c.get("custom_id") for c in walk_components(message.get("components") or [])]
    raise LookupError(f"no component with label={label!r} custom_id={custom_id!r} on message; have {labels}")


def build_modal_submit(modal: Json, values: dict[str, str]) -> Json:
    """``data`` of a MODAL_SUBMIT interaction answering ``modal`` (the bot's type 9 callback data)."""
    inputs = {c["custom_id"]: c for c in walk_components(modal.get("components") or []) if c.get("type") == 4}
    unknown = set(values) - set(inputs)
    if unknown:
        raise ValueError(f"modal has no text inputs {sorted(unknown)}; has {sorted(inputs)}")
    rows: list[Json] = []
    for top in modal.get("components") or []:
        if top.get("type") == 18 and isinstance(top.get("component"), dict):
            rows.append({"type": 18, "id": top.get("id"), "component": _submitted(top["component"], values)})
        elif top.get("type") == 1:
            children = [_submitted(c, values) for c in top.get("components") or []]
            rows.append({"type": 1, "id": top.get("id"), "components": children})
    return {"custom_id": modal["custom_id"], "components": rows}


def _submitted(component: Json, values: dict[str, str]) -> Json:
    if component.get("type") != 4:
        return {
            "type": component.get("type"),
            "id": component.get("id"),
            "custom_id": component.get("custom_id"),
        }
    value = values.get(component["custom_id"], component.get("value") or "")
    if component.get("required", True) and not value:
        raise ValueError(f"text input {component['custom_id']!r} is required")
    if component.get("max_length") is not None and len(value) > component["max_length"]:
        raise ValueError(f"text input {component['custom_id']!r} is longer than {component['max_length']}")
    return {"type": 4, "id": component.get("id"), "custom_id": component["custom_id"], "value": value}
