"""`imaginebot parse [PROMPT]`: print each prompt's jobs (or its error) as one JSON object a line.

Light on purpose: it imports the configuration and the parser only (no torch, diffusers, discord or
SQLAlchemy), so it starts quickly and can be used in scripts. Model and LoRA names are checked against
the catalogue (the folders and `[models.*]` tables); what it could not read is reported on stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from imaginebot.core.config import load_settings
from imaginebot.core.prompt import ParserLimits, PromptError, parse_prompt


def parse_line(text: str, limits: ParserLimits) -> tuple[dict[str, Any], bool]:
    """The JSON object for one prompt and whether it parsed."""
    try:
        jobs = parse_prompt(text, limits)
    except PromptError as exc:
        return {"error": str(exc)}, False
    return {"jobs": [limits.job_json(job) for job in jobs]}, True


def _stdin_prompts(stream: TextIO) -> Iterator[str]:
    for line in stream:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


def _utf8_stdin() -> TextIO:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding="utf-8", errors="replace")


def run_parse(args: argparse.Namespace) -> int:
    limits = ParserLimits.from_settings(load_settings(args.config))
    for problem in limits.catalogue.problems:
        print(f"imaginebot: warning: {problem}", file=sys.stderr)
    prompts: Iterable[str] = [args.prompt] if args.prompt is not None else _stdin_prompts(_utf8_stdin())
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper) and out.encoding.lower().replace("-", "") != "utf8":
        out.reconfigure(encoding="utf-8")
    ok = True
    try:
        for text in prompts:
            obj, parsed = parse_line(text, limits)
            ok = ok and parsed
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            out.flush()
    except BrokenPipeError:
        # The reader went away (`... | head -1`): stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    return 0 if ok else 2
