"""imaginebot.core.moderation: banned words match whole words, any case, after NFKC with zero-width
characters removed — and never a part of another word."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from imaginebot.core.moderation import clean_entry, find_banned, normalize, words_of

LETTERS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
SEPARATORS = st.sampled_from([" ", ", ", "! ", " -- ", "::", "\n", "_", "."])


def test_examples() -> None:
    assert find_banned("a nice ass", ["ass"]) == "ass"
    assert find_banned("ASS!", ["ass"]) == "ass"
    assert find_banned("a class in a passage, assessed", ["ass"]) is None
    assert find_banned("ｂａｄ dog", ["bad"]) == "bad"  # fullwidth letters, NFKC
    assert find_banned("b\u200ba\u200dd dog", ["bad"]) == "bad"  # zero-width characters
    assert find_banned("a bad_dog", ["bad"]) == "bad"  # "_" separates words
    assert find_banned("a cat --no bad", ["bad"]) == "bad"  # parameters are text too
    assert find_banned("very  BAD thing", ["very bad"]) == "very bad"
    assert find_banned("very nice, bad", ["very bad"]) is None
    assert find_banned("", ["bad"]) is None and find_banned("bad", []) is None
    assert find_banned("ﬁre", ["fire"]) == "fire"  # the ligature ﬁ reads as "fi"
    assert clean_entry("  Very  BAD! ") == "very bad" and clean_entry("!!") == ""


@given(word=LETTERS, before=LETTERS, after=LETTERS, sep1=SEPARATORS, sep2=SEPARATORS, data=st.data())
def test_a_banned_word_is_found_in_any_case_and_disguise(
    word: str, before: str, after: str, sep1: str, sep2: str, data: st.DataObject
) -> None:
    disguised = ""
    for c in word:
        c = c.upper() if data.draw(st.booleans()) else c
        c = chr(ord(c) + 0xFEE0) if data.draw(st.booleans()) else c  # its fullwidth form (NFKC undoes it)
        disguised += c + data.draw(st.sampled_from(["", *ZERO_WIDTH]))
    assert find_banned(f"{before}{sep1}{disguised}{sep2}{after}", [word]) == word


@given(word=LETTERS, prefix=LETTERS, suffix=LETTERS, which=st.sampled_from(["prefix", "suffix", "both"]))
def test_a_banned_word_inside_another_word_is_not_refused(
    word: str, prefix: str, suffix: str, which: str
) -> None:
    glued = {"prefix": prefix + word, "suffix": word + suffix, "both": prefix + word + suffix}[which]
    if glued == word or word in words_of(glued):
        return
    assert find_banned(f"a {glued} here", [word]) is None


@given(st.text(max_size=40))
def test_normalize_is_idempotent_and_removes_zero_width(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert not any(c in once for c in ZERO_WIDTH)
    assert not any(unicodedata.category(c) == "Cf" for c in once)


@given(st.text(max_size=30), st.lists(LETTERS, max_size=4))
def test_a_hit_is_one_of_the_entries_and_its_words_are_in_the_text(text: str, entries: list[str]) -> None:
    hit = find_banned(text, entries)
    if hit is not None:
        assert hit in entries and set(words_of(hit)) <= set(words_of(text))
