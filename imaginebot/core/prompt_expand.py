"""`{a, b}` permutations: expand one prompt into several, before any other parsing.

Rules: options are split on unescaped commas and stripped; groups nest (`{a, {b, c}} x` gives `a x`,
`b x`, `c x`); several groups give their cartesian product, the first group varying slowest; `\\,` is a
literal comma everywhere (the backslash is dropped, also outside braces); an empty option is allowed.

The number of results is counted while scanning, and the strings themselves are only built while that
number stays within the cap, so `{a,b}` written twenty times costs no more than reading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imaginebot.core.prompt_messages import PromptError, too_many_expansions, unbalanced_braces

# Counts saturate here, so a prompt with hundreds of groups never builds enormous integers.
COUNT_CEILING = 1_000_000


def _cap(n: int) -> int:
    return min(n, COUNT_CEILING + 1)


@dataclass(slots=True)
class _Option:
    """One option being read: how many strings it stands for and, while affordable, the strings."""

    count: int = 1
    texts: list[str] | None = field(default_factory=lambda: [""])

    def add_literal(self, literal: str) -> None:
        if literal and self.texts is not None:
            self.texts = [t + literal for t in self.texts]

    def add_group(self, count: int, texts: list[str] | None, limit: int) -> None:
        self.count = _cap(self.count * count)
        if self.texts is None or texts is None or self.count > limit:
            self.texts = None
        else:
            self.texts = [t + u for t in self.texts for u in texts]


@dataclass(slots=True)
class _Group:
    """An open `{`: the options read so far and the one being read."""

    done: list[_Option] = field(default_factory=list)
    current: _Option = field(default_factory=_Option)

    def close_option(self) -> None:
        if self.current.texts is not None:
            self.current.texts = [t.strip() for t in self.current.texts]
        self.done.append(self.current)
        self.current = _Option()

    def result(self, limit: int) -> tuple[int, list[str] | None]:
        count = _cap(sum(o.count for o in self.done))
        if count > limit or any(o.texts is None for o in self.done):
            return count, None
        return count, [t for o in self.done for t in (o.texts or [])]


def expand(text: str, max_permutations: int) -> list[str]:
    """All the prompts `text` stands for, in order; PromptError when braces are unbalanced or too many."""
    if "{" not in text and "}" not in text:
        return [text.replace("\\,", ",")]
    top = _Option()
    stack: list[_Group] = []
    buf: list[str] = []

    def current() -> _Option:
        return stack[-1].current if stack else top

    def flush() -> None:
        if buf:
            current().add_literal("".join(buf))
            buf.clear()

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] == ",":
            buf.append(",")
            i += 2
            continue
        if ch == "{":
            flush()
            stack.append(_Group())
        elif ch == "}":
            if not stack:
                raise PromptError(unbalanced_braces())
            flush()
            group = stack.pop()
            group.close_option()
            count, texts = group.result(max_permutations)
            current().add_group(count, texts, max_permutations)
        elif ch == "," and stack:
            flush()
            stack[-1].close_option()
        else:
            buf.append(ch)
        i += 1
    if stack:
        raise PromptError(unbalanced_braces())
    flush()
    if top.count > max_permutations or top.texts is None:
        shown = top.count if top.count <= COUNT_CEILING else None
        raise PromptError(too_many_expansions(shown, max_permutations))
    return top.texts
