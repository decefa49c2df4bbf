"""Reading the `--parameters` of one prompt (part of the prompt parser, imaginebot.core.prompt; torch-free).

The parameters start at the first token `--name` whose name starts with a letter; each takes the tokens
up to the next `--name` as its value, checked against the table in imaginebot.core.prompt_messages.
A parameter may be given once, except the repeatable ones: `--no` lists are merged, `--p` codes and
`--sref` references are collected in order.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

from imaginebot.core import prompt_messages as msg
from imaginebot.core.catalogue import Catalogue
from imaginebot.core.prompt_messages import (
    CHOICES,
    DECIMAL_RANGES,
    FLAGS,
    INT_RANGES,
    NAMES,
    OPTIONAL,
    REPEATABLE,
    PromptError,
)

Value = str | int | float | bool | tuple[str, ...]

_WHOLE = re.compile(r"-?[0-9]+")
_RATIO = re.compile(r"([0-9]+):([0-9]+)")
_DECIMAL = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")
_VERSION = re.compile(r"[1-9](?:\.[0-9])?")
_WORD = re.compile(r"[A-Za-z0-9_-]+")
QUALITIES: dict[Decimal, float] = {
    Decimal("0.25"): 0.25,
    Decimal("0.5"): 0.5,
    Decimal("1"): 1.0,
    Decimal("2"): 2.0,
    Decimal("4"): 4.0,
}
# Midjourney V1–V3 (2022) read --stylize from 625 to 60000 (default 2500, V4's 100).
LEGACY_STYLIZE_MAX = 60_000
# Longer numbers than this are out of every range; it also keeps int() away from huge digit strings.
MAX_DIGITS = 30
# Parameters whose value may be several words (all others take one).
_MANY_WORDS = frozenset({"no", "profile", "sref", "cref"})


def is_parameter(token: str) -> bool:
    return len(token) > 2 and token.startswith("--") and token[2].isascii() and token[2].isalpha()


@dataclass
class Parameters:
    """The checked values by canonical name, and how each was first typed (`--v` or `--version`)."""

    values: dict[str, Value] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str) -> Value | None:
        return self.values.get(name)

    def integer(self, name: str) -> int | None:
        """A whole-number parameter's value (None when not given)."""
        value = self.values.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def number(self, name: str) -> float | None:
        value = self.values.get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def spelled(self, name: str) -> str:
        return self.typed.get(name, "--" + name)


def read_parameters(tokens: list[str], max_repeat: int, catalogue: Catalogue) -> Parameters:
    """The parameters of `tokens`, whose first token (if any) is a `--name`."""
    out = Parameters()
    i = 0
    while i < len(tokens):
        typed = tokens[i]
        j = i + 1
        while j < len(tokens) and not is_parameter(tokens[j]):
            j += 1
        name = NAMES.get(typed[2:].lower())
        if name is None:
            raise PromptError(msg.unknown_parameter(typed))
        spelled = "--" + typed[2:].lower()
        value = _value(name, spelled, tokens[i + 1 : j], max_repeat, catalogue)
        if name in out.values:
            if name not in REPEATABLE:
                raise PromptError(msg.given_twice(name))
            value = _merge(name, out.values[name], value)
        out.values[name] = value
        out.typed.setdefault(name, spelled)
        i = j
    return out


def _merge(name: str, old: Value, new: Value) -> Value:
    if name == "no":
        return f"{old}, {new}"
    if old is True and new is True:
        return True  # a flag given again
    # --p and --sref: codes in order; a bare --p (True) adds nothing to codes given elsewhere.
    old_items = old if isinstance(old, tuple) else ()
    new_items = new if isinstance(new, tuple) else ()
    merged = old_items + tuple(item for item in new_items if item not in old_items)
    return merged or True


def _value(name: str, typed: str, words: list[str], max_repeat: int, catalogue: Catalogue) -> Value:
    if name in FLAGS:
        if words:
            raise PromptError(msg.takes_no_value(typed))
        return True
    if not words:
        if name in OPTIONAL:
            return True
        raise PromptError(msg.needs_value(typed, name, max_repeat))
    value = " ".join(words)
    if name == "no":
        kept = [item.strip() for item in value.split(",") if item.strip()]
        if not kept:
            raise PromptError(msg.not_valid(typed, value, name, max_repeat))
        return ", ".join(kept)
    if name in _MANY_WORDS:
        return tuple(word.strip("<>") for word in words)
    if len(words) > 1:
        raise PromptError(msg.not_valid(typed, value, name, max_repeat))
    return _one_word(name, typed, value, max_repeat, catalogue)


def _one_word(name: str, typed: str, value: str, max_repeat: int, catalogue: Catalogue) -> Value:
    if name == "ar":
        return aspect_text(value, typed)
    if name == "model":
        model = catalogue.find(value)
        if model is None:
            raise PromptError(msg.unknown_model(typed, value, catalogue.describe_names()))
        return model.name
    if name == "quality":
        return quality(value, typed)
    if name in ("version", "niji"):
        if not _VERSION.fullmatch(value):
            raise PromptError(msg.not_valid(typed, value, name, max_repeat))
        return value.removesuffix(".0")
    if name in CHOICES:
        if value.lower() in CHOICES[name]:
            return value.lower()
        if name == "style" and _WORD.fullmatch(value) and len(value) <= MAX_DIGITS:
            return value  # a Style Tuner code (2023)
        raise PromptError(msg.not_valid(typed, value, name, max_repeat))
    if name in DECIMAL_RANGES:
        return _decimal(value, typed, name)
    if name in ("oref", "end"):
        return value.strip("<>")
    if name == "vibe":
        if not _WORD.fullmatch(value):
            raise PromptError(msg.not_valid(typed, value, name, max_repeat))
        return value
    low, high = (1, max_repeat) if name == "repeat" else INT_RANGES[name]
    if name == "stylize":
        high = LEGACY_STYLIZE_MAX  # checked against 0–1000 once the version is known (legacy_stylize)
    return whole(value, typed, name, low, high, max_repeat)


def whole(value: str, typed: str, name: str, low: int, high: int, max_repeat: int = 0) -> int:
    if not _WHOLE.fullmatch(value):
        raise PromptError(msg.not_valid(typed, value, name, max_repeat))
    if len(value.lstrip("-").lstrip("0")) > MAX_DIGITS:
        raise PromptError(msg.out_of_range(typed, value, name, max_repeat))
    number = int(value)
    if not low <= number <= high:
        raise PromptError(msg.out_of_range(typed, value, name, max_repeat))
    return number


def _decimal(value: str, typed: str, name: str) -> float:
    if not _DECIMAL.fullmatch(value) or len(value) > MAX_DIGITS:
        raise PromptError(msg.not_valid(typed, value, name, 0))
    low, high = DECIMAL_RANGES[name]
    number = Decimal(value)
    if not Decimal(low) <= number <= Decimal(high):
        raise PromptError(msg.out_of_range(typed, value, name, 0))
    return float(number) + 0.0


def quality(value: str, typed: str) -> float:
    if _DECIMAL.fullmatch(value) and len(value) <= MAX_DIGITS:
        found = QUALITIES.get(Decimal(value))
        if found is not None:
            return found
    raise PromptError(msg.not_valid(typed, value, "quality", 0))


def ratio(value: str, typed: str) -> tuple[int, int]:
    """`W:H` reduced by their gcd; PromptError unless both are positive and 1:4 ≤ W:H ≤ 4:1."""
    m = _RATIO.fullmatch(value)
    if m and len(value) <= 2 * MAX_DIGITS:
        w, h = int(m.group(1)), int(m.group(2))
        if w > 0 and h > 0 and w <= 4 * h and h <= 4 * w:
            g = math.gcd(w, h)
            return w // g, h // g
    raise PromptError(msg.not_valid(typed, value, "ar", 0))


def aspect_text(value: str, typed: str) -> str:
    w, h = ratio(value, typed)
    return f"{w}:{h}"
