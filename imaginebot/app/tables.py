"""The operator commands' tables (`imaginebot admin …`, `imaginebot jobs`) and their `--json` lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from db.records import JobRecord, QueueStats, QuotaInfo
from imaginebot.core.domain import JobStatus

PROMPT_WIDTH = 48


def _time(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_jobs(jobs: Sequence[JobRecord], *, as_json: bool, empty: str) -> None:
    if as_json:
        for job in jobs:
            print(json.dumps(job.to_json()))
        return
    if not jobs:
        print(empty)
        return
    rows = []
    for j in jobs:
        prompt = (
            j.spec.prompt if len(j.spec.prompt) <= PROMPT_WIDTH else j.spec.prompt[: PROMPT_WIDTH - 1] + "…"
        )
        where = (
            j.position
            if j.position is not None
            else (f"{j.progress}%" if j.status is JobStatus.RUNNING else "")
        )
        rows.append(
            [j.id, j.user_id, j.kind.value, j.status.value, j.attempts, where, _time(j.created_at), prompt]
        )
    _table(["JOB", "USER", "KIND", "STATUS", "TRIES", "POSITION", "CREATED (UTC)", "PROMPT"], rows)


def print_quota(info: QuotaInfo) -> None:
    limit = f"{info.daily_limit}{' (override)' if info.limit_overridden else ''}"
    banned = f"yes{f' ({info.ban_reason})' if info.ban_reason else ''}" if info.banned else "no"
    _table(
        ["USER", str(info.user_id)],
        [
            ["daily limit", limit],
            ["used today", info.used_today],
            ["left today", info.left_today],
            ["queued", info.queued],
            ["running", info.running],
            ["banned", banned],
            ["resets at", f"{info.resets_at:%Y-%m-%d %H:%M} UTC"],
            *_guild_rows(info),
        ],
    )


def _guild_rows(info: QuotaInfo) -> list[list[Any]]:
    g = info.guild
    if g is None:
        return []
    banned = f"yes{f' ({g.ban_reason})' if g.ban_reason else ''}" if g.banned else "no"
    return [
        [f"guild {g.guild_id} limit", "none" if g.daily_limit is None else g.daily_limit],
        [f"used in guild {g.guild_id}", g.used_today],
        [f"banned in guild {g.guild_id}", banned],
        [f"guild {g.guild_id} paused", "yes" if g.paused else "no"],
        ["effective limit", info.effective_limit],
    ]


def print_stats(stats: QueueStats) -> None:
    rows: list[list[Any]] = [[status, n] for status, n in stats.jobs_by_status.items()]
    rows += [["images", stats.images], ["charged today", stats.charged_today]]
    _table(["", "COUNT"], rows)
