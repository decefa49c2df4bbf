"""Message payload helpers: the wire form, edit snapshots, embeds and component ids."""

from __future__ import annotations

import copy
import time

from .models import Json

PRIVATE_MESSAGE_KEYS = ("edits", "initial", "deleted")


def wire_message(message: Json) -> Json:
    """The message as Discord serialises it (without the stand-in's history and attachment bytes)."""
    out = {k: copy.deepcopy(v) for k, v in message.items() if k not in PRIVATE_MESSAGE_KEYS}
    out["attachments"] = [{k: v for k, v in a.items() if k != "data"} for a in message.get("attachments", [])]
    return out


def snapshot(message: Json) -> Json:
    return {
        "at": time.monotonic(),
        "content": message["content"],
        "embeds": copy.deepcopy(message["embeds"]),
        "components": copy.deepcopy(message["components"]),
        "attachments": [{k: v for k, v in a.items() if k != "data"} for a in message["attachments"]],
        "flags": message["flags"],
        "mentions": copy.deepcopy(message["mentions"]),
        "mention_roles": list(message["mention_roles"]),
        "mention_everyone": message["mention_everyone"],
    }


def guess_type(filename: str, declared: str) -> str:
    lower = filename.lower()
    for suffix, kind in (
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".webp", "image/webp"),
        (".gif", "image/gif"),
        (".txt", "text/plain; charset=utf-8"),
        (".json", "application/json"),
    ):
        if lower.endswith(suffix):
            return kind
    return declared or "application/octet-stream"


def normalise_embed(embed: Json) -> Json:
    out = {k: copy.deepcopy(v) for k, v in embed.items() if v is not None}
    out.setdefault("type", "rich")
    return out


def number_components(components: list[Json]) -> list[Json]:
    counter = 0

    def walk(nodes: list[Json]) -> None:
        nonlocal counter
        for node in nodes:
            if not isinstance(node, dict):
                continue
            counter += 1
            node.setdefault("id", counter)
            if node.get("id") is None:
                node["id"] = counter
            walk(node.get("components") or [])
            if isinstance(node.get("component"), dict):
                walk([node["component"]])
            if isinstance(node.get("accessory"), dict):
                walk([node["accessory"]])

    walk(components)
    return components
