"""Request-body validation against the vendored subset of Discord's OpenAPI spec."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SUBSET_PATH = Path(__file__).with_name("openapi_subset.json")
_BASE_URI = "urn:discord-standin:openapi-subset"


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class SpecValidator:
    """Validates JSON bodies for routes named like ``"POST /channels/{channel_id}/messages"``."""

    def __init__(self, path: Path = SUBSET_PATH) -> None:
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        resource: Resource[Any] = DRAFT202012.create_resource(self.document)
        self._registry: Registry[Any] = Registry().with_resource(_BASE_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    @property
    def routes(self) -> list[str]:
        return sorted(self.document["routes"])

    def _validator(self, route: str) -> Draft202012Validator:
        validator = self._validators.get(route)
        if validator is None:
            ref = f"{_BASE_URI}#/routes/{_pointer_escape(route)}"
            validator = Draft202012Validator({"$ref": ref}, registry=self._registry)
            self._validators[route] = validator
        return validator

    def errors(self, route: str, body: Any) -> list[ValidationError]:
        """Every schema error of ``body`` for ``route`` (empty when valid or the route has no schema)."""
        if route not in self.document["routes"]:
            return []
        return sorted(self._validator(route).iter_errors(body), key=lambda e: list(e.absolute_path))


@cache
def default_validator() -> SpecValidator:
    return SpecValidator()


def form_errors(errors: list[ValidationError]) -> dict[str, Any]:
    """Shape schema errors like Discord's 50035 ``errors`` object: nested keys ending in ``_errors``."""
    tree: dict[str, Any] = {}
    for error in errors:
        detail = _relevant_leaf(error)
        node = tree
        for part in detail.absolute_path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": _error_code(detail), "message": detail.message[:300]})
    return tree


def _leaves(error: ValidationError) -> list[ValidationError]:
    # oneOf/anyOf failures report every branch; branches whose discriminating ``type`` did not match
    # are noise, so only descend into the branches whose ``type`` matched (or all, if none did).
    if not error.context:
        return [error]
    depth = len(error.absolute_path) + 1
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)

    def mismatched(subs: list[ValidationError]) -> bool:
        return any(
            sub.validator in ("enum", "const")
            and len(sub.absolute_path) == depth
            and list(sub.absolute_path)[-1] == "type"
            for sub in subs
        )

    chosen = [subs for subs in branches.values() if not mismatched(subs)] or list(branches.values())
    return [leaf for subs in chosen for sub in subs for leaf in _leaves(sub)]


def _relevant_leaf(error: ValidationError) -> ValidationError:
    leaves = _leaves(error)
    if not leaves:
        return best_match([error]) or error
    return max(leaves, key=lambda leaf: len(leaf.absolute_path))


def _error_code(error: ValidationError) -> str:
    return {
        "maxLength": "BASE_TYPE_MAX_LENGTH",
        "minLength": "BASE_TYPE_MIN_LENGTH",
        "maxItems": "BASE_TYPE_MAX_LENGTH",
        "minItems": "BASE_TYPE_MIN_LENGTH",
        "required": "BASE_TYPE_REQUIRED",
        "type": "MODEL_TYPE_CONVERT",
        "enum": "BASE_TYPE_CHOICES",
        "maximum": "NUMBER_TYPE_MAX",
        "minimum": "NUMBER_TYPE_MIN",
    }.get(str(error.validator), "BASE_TYPE_INVALID")
