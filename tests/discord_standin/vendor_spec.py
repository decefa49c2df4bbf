"""Regenerate ``openapi_subset.json`` from Discord's full OpenAPI 3.1 spec.

Usage::

    python tests/discord_standin/vendor_spec.py [path/to/openapi.json]

The default source is ``/work/shared/discord-api-spec/openapi.json`` (MIT, Discord; the licence text is
vendored beside this file as ``LICENSE-discord-api-spec``).  Only the JSON request-body schemas of the
routes the stand-in implements are kept, together with every component schema they reference, so the
output is a self-contained JSON Schema (draft 2020-12) document:

    {"routes": {"POST /channels/{channel_id}/messages": <schema>, ...},
     "components": {"schemas": {...}}, "x-source": {...}, "x-loosened": [...]}

A few spots are loosened where the spec is stricter than what Discord accepts and what discord.py
legitimately sends; each patch is listed in ``LOOSENINGS`` with the reason and recorded in the output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path("/work/shared/discord-api-spec/openapi.json")
OUTPUT = Path(__file__).with_name("openapi_subset.json")

# (method, OpenAPI path) of every route whose JSON body the stand-in validates.
ROUTES: list[tuple[str, str]] = [
    ("POST", "/channels/{channel_id}/messages"),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    ("POST", "/interactions/{interaction_id}/{interaction_token}/callback"),
    ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
    ("PUT", "/applications/{application_id}/commands"),
    ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands"),
    ("POST", "/applications/{application_id}/commands"),
    ("POST", "/applications/{application_id}/guilds/{guild_id}/commands"),
]

Schemas = dict[str, Any]


def _allow_integer_snowflakes(schemas: Schemas) -> None:
    # Discord accepts snowflakes as JSON integers as well as strings, and discord.py sends integers in
    # several request bodies: message_reference ids (Message.to_message_reference_dict), allowed_mentions
    # user/role ids, existing attachment ids (Attachment.to_dict) and the *index* of a new upload
    # (File.to_dict(index) -> "id": 0).  The spec's SnowflakeType only allows a digit string.
    schemas["SnowflakeType"] = {
        "oneOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}]
    }


LOOSENINGS: list[tuple[str, Callable[[Schemas], None]]] = [
    ("SnowflakeType also accepts a non-negative integer", _allow_integer_snowflakes),
]


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                found.add(value.rsplit("/", 1)[1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def build_subset(spec: dict[str, Any], source_digest: str) -> dict[str, Any]:
    all_schemas: Schemas = spec["components"]["schemas"]
    routes: dict[str, Any] = {}
    for method, path in ROUTES:
        operation = spec["paths"][path][method.lower()]
        routes[f"{method} {path}"] = operation["requestBody"]["content"]["application/json"]["schema"]

    needed: set[str] = set()
    pending: set[str] = set()
    _refs(routes, pending)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        found: set[str] = set()
        _refs(all_schemas[name], found)
        pending |= found - needed

    schemas = json.loads(json.dumps({name: all_schemas[name] for name in sorted(needed)}))
    for _description, patch in LOOSENINGS:
        patch(schemas)

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-source": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "openapi": spec["openapi"],
            "sha256": source_digest,
            "license": "MIT, see LICENSE-discord-api-spec",
        },
        "x-loosened": [description for description, _patch in LOOSENINGS],
        "routes": routes,
        "components": {"schemas": schemas},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    raw = args.source.read_bytes()
    subset = build_subset(json.loads(raw), hashlib.sha256(raw).hexdigest())
    args.output.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    count = len(subset["components"]["schemas"])
    print(f"wrote {args.output} ({len(subset['routes'])} routes, {count} schemas)")


if __name__ == "__main__":
    main()
