"""A user's `/prefer` preferences applied to what they type, before the prompt parser reads it (torch-free).

- Custom options (`/prefer option set NAME VALUE`): a word `--NAME` (or `—NAME`, as phones type it), also
  inside `{…}`, stands for VALUE. Values may use other custom options; they are expanded recursively,
  each one once (memoised), and an option that comes back into its own expansion is an error naming the
  options in the loop. Names are matched case-insensitively (they are stored in lower case); a name that
  is a parameter of the language is never expanded (the parameter wins).
- The suffix (`/prefer suffix TEXT`) is appended to every prompt, as Midjourney does: its words join the
  end of the prompt's text (before the prompt's own parameters), its parameters the end of the prompt.
  A parameter the prompt names itself wins over the suffix's (the suffix is a default, not a conflict),
  except those that may be given several times (`--no`), which add up. A suffix already there (a Remix
  of a prompt that has it) is not added twice, so applying the preferences again changes nothing.

The expanded prompt must stay within EXPANDED_MAX characters; the usual checks of the parser follow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from imaginebot.core.domain import UserDefaults
from imaginebot.core.prompt_compat import normalize_dashes
from imaginebot.core.prompt_messages import NAMES, REPEATABLE, PromptError

__all__ = [
    "EXPANDED_MAX",
    "PROMPT_MAX",
    "apply_preferences",
    "expand_options",
    "find_loop",
    "loop_text",
    "option_names",
    "usable_options",
]

PROMPT_MAX = 2000  # characters of /imagine's prompt option
EXPANDED_MAX = 6000  # characters of a prompt once the options are expanded and the suffix added
# `--NAME` (or an em/en dash) at the start of a word, of a `{…}` option, or after a comma.
_OPTION = re.compile(r"(?<![^\s{,])(?:--|[\u2013\u2014])([A-Za-z][A-Za-z0-9-]*)(?=[\s,}]|\Z)")
# A word that starts the parameters, also as the first word of a `{…}` group (`{--ar 1:1, --ar 2:3}`).
_PARAMS_START = re.compile(r"\{*--[A-Za-z]")


def loop_text(loop: tuple[str, ...]) -> str:
    """`--a → --b → --a` for the loop (a, b)."""
    return " → ".join(f"--{name}" for name in (*loop, loop[0]))


def _loop_error(loop: tuple[str, ...]) -> PromptError:
    return PromptError(
        f"your custom options {loop_text(loop)} expand into each other without end: "
        "change or delete one of them with /prefer option set"
    )


def _too_long(length: int) -> PromptError:
    return PromptError(
        f"with your /prefer options and suffix this prompt is {length} characters long: "
        f"at most {EXPANDED_MAX} are allowed"
    )


def option_names(text: str) -> list[str]:
    """The names (lower case, in order) of the `--NAME` words in `text`."""
    return [m.group(1).lower() for m in _OPTION.finditer(text)]


def usable_options(options: Mapping[str, str]) -> dict[str, str]:
    """The options by lower-case name, without any whose name a parameter of the language has taken
    since it was set (the real parameter wins; /prefer refuses such names when they are set)."""
    return {name.lower(): value for name, value in options.items() if name.lower() not in NAMES}


def find_loop(options: Mapping[str, str], start: str) -> tuple[str, ...] | None:
    """The options of a loop reachable from `start` (in the order they expand), or None."""
    options = usable_options(options)
    done: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> tuple[str, ...] | None:
        if name in chain:
            return chain[chain.index(name):]
        if name in done or name not in options:
            return None
        for used in option_names(options[name]):
            loop = visit(used, (*chain, name))
            if loop is not None:
                return loop
        done.add(name)
        return None

    return visit(start, ())


def expand_options(text: str, options: Mapping[str, str]) -> str:
    """`text` with every custom option word replaced by its (fully expanded) value. PromptError for a
    loop, or for an expansion longer than EXPANDED_MAX."""
    options = usable_options(options)
    if not options:
        return text
    expanded: dict[str, str] = {}

    def value_of(name: str, chain: tuple[str, ...]) -> str:
        if name in chain:
            raise _loop_error(chain[chain.index(name):])
        if name not in expanded:
            expanded[name] = substitute(options[name], (*chain, name))
        return expanded[name]

    def substitute(part: str, chain: tuple[str, ...]) -> str:
        def replace(m: re.Match[str]) -> str:
            name = m.group(1).lower()
            return value_of(name, chain) if name in options else m.group(0)

        out = _OPTION.sub(replace, part)
        if len(out) > EXPANDED_MAX:
            raise _too_long(len(out))
        return out

    return substitute(text, ())


def _params_start(tokens: list[str]) -> int:
    return next((i for i, t in enumerate(tokens) if _PARAMS_START.match(t)), len(tokens))


def _segments(tokens: list[str]) -> list[list[str]]:
    """Parameter tokens grouped: each `--name` with the words up to the next one."""
    groups: list[list[str]] = []
    for token in tokens:
        if _PARAMS_START.match(token) or not groups:
            groups.append([token])
        else:
            groups[-1].append(token)
    return groups


def _contains(tokens: list[str], part: list[str]) -> bool:
    n = len(part)
    return any(tokens[i : i + n] == part for i in range(len(tokens) - n + 1))


def append_suffix(prompt: str, suffix: str) -> str:
    """`prompt` with `suffix` appended: its words after the prompt's text, its parameters at the end,
    minus the parameters the prompt already names (see the module's docstring)."""
    tokens = normalize_dashes(prompt).split()
    extra = normalize_dashes(suffix).split()
    start, extra_start = _params_start(tokens), _params_start(extra)
    text, params = tokens[:start], tokens[start:]
    words = extra[:extra_start]
    if words and text[len(text) - len(words):] != words:
        text = text + words
    named = {NAMES.get(name) for name in option_names(" ".join(tokens))}
    for segment in _segments(extra[extra_start:]):
        name = NAMES.get(segment[0].lstrip("{-").lower())
        repeatable = name in REPEATABLE
        if (name in named and not repeatable) or (repeatable and _contains(params, segment)):
            continue
        params = params + segment
    return " ".join(text + params)


def apply_preferences(text: str, defaults: UserDefaults | None) -> str:
    """What the parser reads for `text` typed by a user with these /prefer preferences: the custom
    options expanded and the suffix appended (`text` itself when there are none)."""
    options = defaults.options if defaults is not None else None
    suffix = defaults.suffix if defaults is not None else None
    if not options and not suffix:
        return text
    out = expand_options(text, options or {})
    if suffix:
        out = append_suffix(out, expand_options(suffix, options or {}))
    if len(out) > EXPANDED_MAX:
        raise _too_long(len(out))
    return out
