"""Fast time reservations: a Fast or Turbo job reserves its estimated GPU time at enqueue.

A user's Fast time used today is the sum, over their charged jobs since the day's start (or their quota
reset), of the measured GPU seconds — or the reservation `gpu_estimate` while the job has not finished —
times the job's `fast_factor` (1 for Fast, quota.turbo_factor for Turbo, 0 for Relax): see
`db.quota.FAST_SECONDS`. A refund (`charged = false`) gives it all back.

The reservation is decided inside admission's write transaction, with the user's row locked, against
counts that include the requests admitted before it in the same group: exact under races, like job counts.
The estimate is the job's work units (images × steps × pixels) times the model's GPU seconds per unit over
its last measured jobs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import next_reset
from db.errors import FastTimeUsedUp
from db.models import Job
from db.quota import Usage
from imaginebot.core.gpu_time import DEFAULT_SECONDS_PER_UNIT, RELAX

RATE_SAMPLE = 50  # a model's measured jobs a reservation is estimated from


async def reserve_fast_time(
    conn: AsyncConnection,
    rows: list[dict[str, Any]],
    limit: float,
    usage: Usage,
    rates: dict[str, float],
    relax_enabled: bool,
    now: datetime,
) -> float:
    """Reserve the Fast seconds of one request's job rows against `limit` (0: unlimited, nothing reserved).

    Not enough left: the rows go to Relax (mode "relax", factor 0) where `relax_enabled`, else
    FastTimeUsedUp. Returns the Fast seconds reserved. `rates` caches each model's seconds per unit.
    """
    paid = [row for row in rows if row["fast_factor"] > 0]
    if limit <= 0 or not paid:
        return 0.0
    for row in paid:
        if row["model"] not in rates:
            rates[row["model"]] = await seconds_per_unit(conn, row["model"])
        row["gpu_estimate"] = row["work_units"] * rates[row["model"]]
    cost = float(sum(row["gpu_estimate"] * row["fast_factor"] for row in paid))
    if usage.fast_seconds + cost <= limit:
        return cost
    if not relax_enabled:
        raise FastTimeUsedUp(usage.fast_seconds, limit, cost, next_reset(now))
    for row in paid:
        row["mode"], row["fast_factor"] = RELAX, 0.0
    return 0.0


async def seconds_per_unit(conn: AsyncConnection, model: str) -> float:
    """GPU seconds per work unit over `model`'s last measured jobs (a guess until it has some)."""
    recent = (
        select(Job.gpu_seconds, Job.work_units)
        .where(Job.model == model, Job.gpu_seconds.is_not(None), Job.work_units > 0)
        .order_by(Job.created_at.desc())
        .limit(RATE_SAMPLE)
        .subquery()
    )
    stmt = select(func.sum(recent.c.gpu_seconds), func.sum(recent.c.work_units))
    seconds, units = (await conn.execute(stmt)).one()
    if seconds and units:
        return float(seconds) / float(units)
    return DEFAULT_SECONDS_PER_UNIT
