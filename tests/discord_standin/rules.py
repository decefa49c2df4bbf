"""Discord's content rules that the OpenAPI schema does not express (or expresses more loosely).

Each check returns a Discord-shaped ``errors`` object (empty when the body is acceptable).
"""

from __future__ import annotations

import re
from typing import Any

from .models import FLAG_COMPONENTS_V2, Json, UploadedFile, field_error, merge_errors

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ACTION_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_CUSTOM_ID = 100
MAX_LABEL = 80
MAX_ATTACHMENTS = 10
LINK_STYLE = 5
PREMIUM_STYLE = 6
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


def _too_long(path: list[str | int], limit: int) -> Json:
    return field_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def check_message(body: Json, files: list[UploadedFile]) -> Json:
    """Content, embed, component and attachment-count limits of a create or edit body."""
    errors: Json = {}
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        merge_errors(errors, _too_long(["content"], MAX_CONTENT))
    embeds = body.get("embeds") or []
    if isinstance(embeds, list):
        if len(embeds) > MAX_EMBEDS:
            merge_errors(errors, _too_long(["embeds"], MAX_EMBEDS))
        total = sum(_embed_chars(embed) for embed in embeds if isinstance(embed, dict))
        if total > MAX_EMBED_TOTAL:
            merge_errors(
                errors,
                field_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"),
            )
    components = body.get("components") or []
    flags = body.get("flags") or 0
    if isinstance(components, list) and not (isinstance(flags, int) and flags & FLAG_COMPONENTS_V2):
        merge_errors(errors, _check_components(components))
    attachments = body.get("attachments") or []
    if len(files) > MAX_ATTACHMENTS or (isinstance(attachments, list) and len(attachments) > MAX_ATTACHMENTS):
        merge_errors(errors, _too_long(["attachments"], MAX_ATTACHMENTS))
    return errors


def is_empty_message(body: Json, files: list[UploadedFile]) -> bool:
    return not (
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
        or files
    )


def _embed_chars(embed: Json) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for item in embed.get("fields") or []:
        total += len(item.get("name") or "") + len(item.get("value") or "")
    return total


def _check_components(rows: list[Any]) -> Json:
    errors: Json = {}
    if len(rows) > MAX_ACTION_ROWS:
        merge_errors(errors, _too_long(["components"], MAX_ACTION_ROWS))
    seen: set[str] = set()
    for r, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        if row.get("type") != 1:
            merge_errors(
                errors,
                field_error(
                    ["components", r, "type"],
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED" if row.get("type") == 2 else "BASE_TYPE_CHOICES",
                    "Top-level components must be action rows unless IS_COMPONENTS_V2 is set.",
                ),
            )
            continue
        children = [c for c in row.get("components") or [] if isinstance(c, dict)]
        buttons = [c for c in children if c.get("type") == 2]
        if len(children) > MAX_ROW_BUTTONS or (len(children) > 1 and len(buttons) != len(children)):
            merge_errors(
                errors,
                field_error(
                    ["components", r, "components"],
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                ),
            )
        for c, child in enumerate(children):
            merge_errors(errors, _check_component(child, ["components", r, "components", c], seen))
    return errors


def _check_component(component: Json, path: list[str | int], seen: set[str]) -> Json:
    errors: Json = {}
    custom_id = component.get("custom_id")
    label = component.get("label")
    if isinstance(label, str) and len(label) > MAX_LABEL:
        merge_errors(errors, _too_long([*path, "label"], MAX_LABEL))
    if isinstance(custom_id, str):
        if len(custom_id) > MAX_CUSTOM_ID:
            merge_errors(errors, _too_long([*path, "custom_id"], MAX_CUSTOM_ID))
        if custom_id in seen:
            merge_errors(
                errors,
                field_error(
                    [*path, "custom_id"],
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                ),
            )
        seen.add(custom_id)
    if component.get("type") == 2:
        style = component.get("style")
        if style == LINK_STYLE:
            if not component.get("url") or custom_id is not None:
                merge_errors(
                    errors,
                    field_error(
                        path, "BUTTON_COMPONENT_URL_REQUIRED", "Link buttons need a url and no custom_id"
                    ),
                )
        elif style != PREMIUM_STYLE and not custom_id:
            merge_errors(
                errors,
                field_error(
                    [*path, "custom_id"], "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required"
                ),
            )
        if style not in (LINK_STYLE, PREMIUM_STYLE) and not label and not component.get("emoji"):
            merge_errors(
                errors,
                field_error(path, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or emoji is required"),
            )
    return errors


def check_commands(commands: list[Any]) -> Json:
    """Rules for a bulk command overwrite that the spec leaves out (naming, descriptions, duplicates)."""
    errors: Json = {}
    seen: set[tuple[str, int]] = set()
    for i, command in enumerate(commands):
        if not isinstance(command, dict):
            continue
        kind = command.get("type") or 1
        name = command.get("name") or ""
        key = (name, kind)
        if key in seen:
            merge_errors(
                errors,
                field_error(
                    [i, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {name}",
                ),
            )
        seen.add(key)
        if kind == 1:
            merge_errors(errors, _check_chat_input([i], command))
    return errors


def _check_chat_input(path: list[str | int], node: Json) -> Json:
    errors: Json = {}
    name = node.get("name") or ""
    if not COMMAND_NAME.match(name) or name != name.lower():
        merge_errors(
            errors,
            field_error(
                [*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}"
            ),
        )
    description = node.get("description")
    if not description or len(description) > 100:
        merge_errors(
            errors,
            field_error(
                [*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            ),
        )
    options = node.get("options") or []
    optional_seen = False
    names: set[str] = set()
    for j, option in enumerate(options):
        if not isinstance(option, dict):
            continue
        option_path = [*path, "options", j]
        if option.get("name") in names:
            merge_errors(
                errors,
                field_error(
                    [*option_path, "name"],
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Duplicate option name",
                ),
            )
        names.add(option.get("name") or "")
        if option.get("type") in (1, 2):
            merge_errors(errors, _check_chat_input(option_path, option))
            continue
        if option.get("required"):
            if optional_seen:
                merge_errors(
                    errors,
                    field_error(
                        option_path,
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    ),
                )
        else:
            optional_seen = True
        merge_errors(errors, _check_chat_input_option_name(option_path, option))
    return errors


def _check_chat_input_option_name(path: list[str | int], option: Json) -> Json:
    name = option.get("name") or ""
    if COMMAND_NAME.match(name) and name == name.lower():
        return {}
    return field_error(
        [*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", f"Option name is invalid: {name!r}"
    )
