"""Real Midjourney prompts (tests/data/real_prompts.jsonl): the share the parser reads, and that every one
it refuses is one the corpus marks as refused, with the reason.

Each line holds `prompt`, `year` and `origin` (where it was published: Midjourney's public showcase feed and
documentation, PromptLibrary.org, aituts.com, X/Twitter posts, prompt guides, and the GitHub repositories and
files that quote them), and `malformed` with a reason for the few that imaginebot refuses: garbled parameters,
a parameter given twice, a value no Midjourney version accepts, one user's own /prefer option, image URLs
without text, and what INTERFACE.md makes an error on a model that lacks it: `--draft` without a draft
profile, a bare `--niji` without a model aliased `niji`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imaginebot.core.prompt import PromptError, parse_prompt

CORPUS = Path(__file__).parent / "data" / "real_prompts.jsonl"


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


ROWS = _rows()


def _parses(prompt: str) -> bool:
    try:
        parse_prompt(prompt)
    except PromptError:
        return False
    return True


def _share(rows: list[dict[str, Any]]) -> float:
    return sum(_parses(r["prompt"]) for r in rows) / len(rows)


def test_the_corpus_is_large_and_says_where_each_prompt_comes_from() -> None:
    assert len(ROWS) >= 484
    assert sum(r["year"] >= 2023 for r in ROWS) >= 456
    assert all(r["origin"] and 2022 <= r["year"] <= 2026 and r["prompt"].strip() for r in ROWS)
    assert len({r["prompt"] for r in ROWS}) == len(ROWS)


def test_the_share_that_parses() -> None:
    """Measured: 472 of 484 (97.5 %), 445 of the 456 from 2023 on (97.6 %); the goals are 97 % and 95 %.
    The corpus keeps the refused prompts its sources held, so the floors sit just under what is
    measured."""
    modern = [r for r in ROWS if r["year"] >= 2023]
    assert _share(ROWS) >= 0.975
    assert _share(modern) >= 0.975


@pytest.mark.parametrize("row", ROWS, ids=[f"{n}" for n in range(len(ROWS))])
def test_each_prompt_parses_unless_the_corpus_says_why_not(row: dict[str, Any]) -> None:
    if row.get("malformed"):
        with pytest.raises(PromptError):
            parse_prompt(row["prompt"])
        return
    jobs = parse_prompt(row["prompt"])
    for job in jobs:
        assert "https://s.mj.run/" not in job.prompt.split(" ")[0]  # leading image URLs left the text
        assert all("\n" not in note for note in job.notes)
