"""Prompt moderation: does a prompt contain a banned word? A pure function, torch- and database-free.

A banned entry matches *whole words*, case-insensitively, after the text is put in Unicode NFKC form
(fullwidth ｂａｄ, ligatures and other compatibility forms read as their plain letters) and every
zero-width or invisible formatting character is removed (``b\u200bad`` reads as ``bad``). Words are runs
of letters and digits; anything else (spaces, punctuation, ``_``, ``::``, ``--``) separates them, so a
banned ``ass`` refuses "ass" and "ASS!" but not "class" or "passage". An entry of several words (``very
bad``) matches those words in a row.

The whole prompt text is checked, parameters included: `--no <word>` names the word as well.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Characters that render as nothing (or nearly) and so hide a word from a plain comparison: zero-width
# space/joiners, word joiner, invisible operators, BOM, soft hyphen, Mongolian vowel separator,
# and the other Unicode "format" (Cf) characters, which normalize() removes by category.
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f")
_WORD = re.compile(r"[^\W_]+")
MAX_WORD_LENGTH = 100


def normalize(text: str) -> str:
    """The form prompts and banned words are compared in: NFKC, zero-width characters removed,
    case-folded (and NFKC again, as case folding may leave a non-normalized string)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if c not in _ZERO_WIDTH and unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", text.casefold())


def words_of(text: str) -> tuple[str, ...]:
    """The normalized words of `text`, in order."""
    return tuple(_WORD.findall(normalize(text)))


def clean_entry(entry: str) -> str:
    """A banned entry as it is stored and shown: its normalized words joined by one space ("" when it
    has none, e.g. only punctuation)."""
    return " ".join(words_of(entry))


@dataclass(frozen=True, slots=True)
class BannedWord:
    """The rule a prompt broke: the entry as configured (`word`), and whether it is the operators'
    (global: config or `/admin words` by an operator) or one guild's."""

    word: str
    guild_id: int | None = None


def find_banned(text: str, entries: Iterable[str]) -> str | None:
    """The first entry (in the given order) whose words occur as whole words in `text`, else None."""
    words = words_of(text)
    if not words:
        return None
    present = set(words)
    for entry in entries:
        wanted = words_of(entry)
        if not wanted or wanted[0] not in present:
            continue
        n = len(wanted)
        if any(words[i : i + n] == wanted for i in range(len(words) - n + 1)):
            return entry
    return None
