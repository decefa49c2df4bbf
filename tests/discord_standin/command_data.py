"""``data`` of APPLICATION_COMMAND and AUTOCOMPLETE interactions: options checked against the registered
command and resolved (users, members, channels, roles, attachments) in the interaction's guild."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .models import Json, UploadedFile
from .world import World


@dataclass(frozen=True)
class Where:
    """Who invokes a command where: ``guild_id`` None for the bot's DM with the user."""

    user_id: str
    guild_id: str | None
    channel_id: str


def _resolve_user(world: World, value: Any) -> str:
    user_id = str(value["id"] if isinstance(value, dict) else value)
    if user_id not in world.users:
        raise ValueError(f"unknown user {user_id}")
    return user_id


def _option_value(world: World, where: Where, option: Json, value: Any, resolved: Json) -> Any:
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
        guild = world.guilds.get(where.guild_id or "")
        if guild is not None and user_id in guild.members:
            member = guild.member_with_permissions(user_id, world.channels[where.channel_id])
            member.pop("user", None)
            resolved.setdefault("members", {})[user_id] = member
        result = user_id
    elif kind == 7:
        channel_id = str(value["id"] if isinstance(value, dict) else value)
        channel = copy.deepcopy(world.channels[channel_id])
        if channel.get("guild_id") != where.guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {where.guild_id}")
        channel["permissions"] = str(world.permissions(where.user_id, channel_id=channel_id))
        resolved.setdefault("channels", {})[channel_id] = channel
        result = channel_id
    elif kind == 8:
        role_id = str(value["id"] if isinstance(value, dict) else value)
        roles = world.guilds[where.guild_id].roles if where.guild_id else {}
        if role_id not in roles:
            raise ValueError(f"role {role_id} is not in guild {where.guild_id}")
        resolved.setdefault("roles", {})[role_id] = copy.deepcopy(roles[role_id])
        result = role_id
    elif kind == 11:
        if isinstance(value, UploadedFile):  # a file the user attaches: on the CDN, then in `resolved`
            value = world.upload_attachment(where.channel_id, value)
        attachment = {k: v for k, v in dict(value).items() if k != "data"}
        resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        result = attachment["id"]
    else:
        raise ValueError(f"unsupported option type {kind}")
    choices = option.get("choices")
    if choices and result not in [c["value"] for c in choices]:
        raise ValueError(f"{result!r} is not a choice of option {option['name']!r}")
    return result


def build_options(
    world: World,
    where: Where,
    declared: list[Json],
    given: dict[str, Any],
    resolved: Json,
    focused: str | None = None,
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
            value = _option_value(world, where, option, given[name], resolved)
            out.append({"name": name, "type": option["type"], "value": value})
        elif option.get("required") and focused is None:
            raise ValueError(f"required option {name!r} missing")
    return out


def build_command_data(
    world: World,
    where: Where,
    command: Json,
    path: list[str],
    options: dict[str, Any],
    focused: str | None = None,
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
    nested.extend(build_options(world, where, declared, options, resolved, focused))
    data: Json = {"id": command["id"], "name": command["name"], "type": 1, "options": top}
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved:
        data["resolved"] = resolved
    return data
