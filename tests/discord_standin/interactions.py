"""Interactions the stand-in dispatches: payload builders and the handle tests hold on to."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import base64
import copy
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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
        guild_id = world.guild_id
        channel = copy.deepcopy(world.channels[channel_id])
        channel["permissions"] = str(world.permissions(user["id"]))
        self.payload: Json = {
            "id": self.id,
            "application_id": world.application_id,
            "type": kind,
            "data": data,
            "guild_id": guild_id,
            "guild": {"id": guild_id, "locale": "en-US", "features": []},
            "channel_id": channel_id,
            "channel": channel,
            "member": world.member_with_permissions(user["id"]),
            "token": self.token,
            "version": 1,
            "app_permissions": str(world.permissions(world.bot_user["id"])),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,
            "attachment_size_limit": attachment_size_limit,
        }
        if source_message is not None:
            self.payload["message"] = wire_message(source_message)

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
            "authorizing_integration_owners": {"0": self._world.guild_id},
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


# -- payload builders -----------------------------------------------------------------------------------


def _resolve_user(world: World, value: Any) -> str:
    user_id = str(value["id"] if isinstance(value, dict) else value)
    if user_id not in world.users:
        raise ValueError(f"unknown user {user_id}")
    return user_id


def _option_value(world: World, option: Json, value: Any, resolved: Json) -> Any:
    kind = option["type"]
    if kind == 3:
        text = str(value)
        if option.get("min_length") is not None and len(text) < option["min_length"]:
            raise ValueError(f"option {option['name']!r} is shorter than {option['min_length']}")
        if option.get("max_length") is not None and len(text) > option["max_length"]:
            raise ValueError(f"option {option['name']!r} is longer than {option['max_length']}")
        result: Any = text
    elif kind in (4, 10):
        result = int(value) if kind == 4 else float(value)
        if option.get("min_value") is not None and result < option["min_value"]:
            raise ValueError(f"option {option['name']!r} is below {option['min_value']}")
        if option.get("max_value") is not None and result > option["max_value"]:
            raise ValueError(f"option {option['name']!r} is above {option['max_value']}")
    elif kind == 5:
        result = bool(value)
    elif kind in (6, 9):
        user_id = _resolve_user(world, value)
        resolved.setdefault("users", {})[user_id] = copy.deepcopy(world.users[user_id])
        member = world.member_with_permissions(user_id)
        member.pop("user", None)
        resolved.setdefault("members", {})[user_id] = member
        result = user_id
    elif kind == 7:
        channel_id = str(value["id"] if isinstance(value, dict) else value)
        channel = copy.deepcopy(world.channels[channel_id])
        channel["permissions"] = str(world.permissions(world.bot_user["id"]))
        resolved.setdefault("channels", {})[channel_id] = channel
        result = channel_id
    elif kind == 8:
        role_id = str(value["id"] if isinstance(value, dict) else value)
        resolved.setdefault("roles", {})[role_id] = copy.deepcopy(world.roles[role_id])
        result = role_id
    elif kind == 11:
        attachment = dict(value)
        resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        result = attachment["id"]
    else:
        raise ValueError(f"unsupported option type {kind}")
    choices = option.get("choices")
    if choices and result not in [c["value"] for c in choices]:
        raise ValueError(f"{result!r} is not a choice of option {option['name']!r}")
    return result


def build_options(
    world: World, declared: list[Json], given: dict[str, Any], resolved: Json, focused: str | None = None
) -> list[Json]:
    by_name = {o["name"]: o for o in declared}
    unknown = set(given) - set(by_name)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; declared: {sorted(by_name)}")
    if focused is not None and not by_name.get(focused, {}).get("autocomplete"):
        raise ValueError(f"option {focused!r} does not have autocomplete")
    out = []
    for option in declared:
        name = option["name"]
        if name == focused:
            # While typing, Discord sends the partial text of the focused option unvalidated.
            partial = str(given.get(name, ""))
            out.append({"name": name, "type": option["type"], "value": partial, "focused": True})
        elif name in given:
            value = _option_value(world, option, given[name], resolved)
            out.append({"name": name, "type": option["type"], "value": value})
        elif option.get("required") and focused is None:
            raise ValueError(f"required option {name!r} missing")
    return out


def build_command_data(
    world: World, command: Json, path: list[str], options: dict[str, Any], focused: str | None = None
) -> Json:
    """``data`` of an APPLICATION_COMMAND (or, with ``focused``, AUTOCOMPLETE) interaction."""
    resolved: Json = {}
    declared = command.get("options") or []
    nested: list[Json] = []
    top: list[Json] = nested
    for part in path:
        sub = next((o for o in declared if o["name"] == part and o["type"] in (1, 2)), None)
        if sub is None:
            raise ValueError(f"/{command['name']} has no subcommand (group) {part!r}")
        entry: Json = {"name": part, "type": sub["type"], "options": []}
        nested.append(entry)
        nested = entry["options"]
        declared = sub.get("options") or []
    if any(o["type"] in (1, 2) for o in declared):
        raise ValueError(f"/{command['name']} {' '.join(path)} needs a subcommand")
    nested.extend(build_options(world, declared, options, resolved, focused))
    data: Json = {"id": command["id"], "name": command["name"], "type": 1, "options": top}
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved:
        data["resolved"] = resolved
    return data


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
