"""Changing a user's `/prefer` preferences: custom options and the suffix, checked before they are kept.

Each change returns the new UserDefaults, or raises a PreferenceError (carrying data; the bot words it)
and changes nothing. A value is checked by the prompt parser itself, on a sample prompt that uses it, so
a bad value is refused with the parser's own message (`--ar 99:1 is not valid: …`) at set time rather
than on every later prompt. How the preferences apply to a prompt: imaginebot.core.prompt_prefer.
"""

from __future__ import annotations

import dataclasses
import re

from imaginebot.core.domain import UserDefaults
from imaginebot.core.prompt import ParserLimits, PromptError, parse_prompt
from imaginebot.core.prompt_messages import NAMES
from imaginebot.core.prompt_prefer import PROMPT_MAX, find_loop

NAME_MAX = 32
OPTIONS_MAX = 25  # custom options a user may keep (one /prefer option list message shows them all)
SAMPLE = "a sample prompt"  # the text a value is tried on
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


class PreferenceError(ValueError):
    """A /prefer change that cannot be made; nothing was changed."""


@dataclasses.dataclass(eq=False)
class BadOptionName(PreferenceError):
    name: str


@dataclasses.dataclass(eq=False)
class ShadowsParameter(PreferenceError):
    name: str
    parameter: str  # the parameter's canonical name (`stylize` for `s`)


@dataclasses.dataclass(eq=False)
class OptionLoop(PreferenceError):
    loop: tuple[str, ...]  # option names in the order they expand


@dataclasses.dataclass(eq=False)
class BadValue(PreferenceError):
    name: str | None  # the option's name; None: the suffix
    value: str
    reason: str  # the prompt parser's message


@dataclasses.dataclass(eq=False)
class TooLong(PreferenceError):
    name: str | None  # the option's name; None: the suffix
    length: int
    limit: int


@dataclasses.dataclass(eq=False)
class TooManyOptions(PreferenceError):
    limit: int


@dataclasses.dataclass(eq=False)
class UnknownOption(PreferenceError):
    name: str


def option_name(typed: str) -> str:
    """The stored form of an option name as typed (`--Wide` → `wide`); BadOptionName or ShadowsParameter
    when it cannot be one."""
    name = typed.strip().removeprefix("--").lstrip("\u2013\u2014")
    if not _NAME.fullmatch(name) or len(name) > NAME_MAX:
        raise BadOptionName(typed.strip()[: NAME_MAX + 8])
    name = name.lower()
    if name in NAMES:
        raise ShadowsParameter(name, NAMES[name])
    return name


def _try(defaults: UserDefaults, limits: ParserLimits, sample: str, name: str | None, value: str) -> None:
    try:
        parse_prompt(sample, limits, defaults)
    except PromptError as err:
        raise BadValue(name, value, str(err)) from None


def set_option(current: UserDefaults, typed_name: str, value: str, limits: ParserLimits) -> UserDefaults:
    """`current` with the custom option `--NAME` set to `value` (added or replaced)."""
    name = option_name(typed_name)
    value = " ".join(value.split())
    if len(value) > PROMPT_MAX:
        raise TooLong(name, len(value), PROMPT_MAX)
    options = dict(current.options or {})
    if name not in options and len(options) >= OPTIONS_MAX:
        raise TooManyOptions(OPTIONS_MAX)
    options[name] = value
    loop = find_loop(options, name)
    if loop is not None:
        raise OptionLoop(loop)
    # The value alone (with the options it uses), as a prompt's parameters would be.
    _try(UserDefaults(options=options), limits, f"{SAMPLE} --{name}", name, value)
    return dataclasses.replace(current, options=options)


def delete_option(current: UserDefaults, typed_name: str) -> UserDefaults:
    """`current` without the custom option `--NAME` (UnknownOption when there is none)."""
    name = typed_name.strip().removeprefix("--").lower()
    options = dict(current.options or {})
    if name not in options:
        raise UnknownOption(typed_name.strip()[: NAME_MAX + 8])
    del options[name]
    return dataclasses.replace(current, options=options or None)


def set_suffix(current: UserDefaults, suffix: str | None, limits: ParserLimits) -> UserDefaults:
    """`current` with the suffix set (None or blank: cleared)."""
    text = " ".join((suffix or "").split())
    if not text:
        return dataclasses.replace(current, suffix=None)
    if len(text) > PROMPT_MAX:
        raise TooLong(None, len(text), PROMPT_MAX)
    _try(UserDefaults(suffix=text, options=current.options), limits, SAMPLE, None, text)
    return dataclasses.replace(current, suffix=text)
