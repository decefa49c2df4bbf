"""The claim: one statement that picks a fair batch of compatible jobs and leases it to a worker.

Fairness is round-robin by each user's place in their own line: a queued job's *place* is its rank among
its user's queued jobs plus the user's running jobs, so a user's first waiting job competes with everyone
else's first, whatever they queued before. Ties go to the user served least recently
(`users.last_claimed_at`), then to the older job. `quota.max_running` caps place, so a user never holds
more than that many running jobs.

Speed modes come first: Turbo jobs (tier 0), then Fast (tier 1), then Relax (tier 2) — a Relax job queued
more than `queue.relax_max_wait` ago counts as Fast, so it waits behind Fast work at most that long before
it takes its turn in the Fast rotation. Fairness holds within each tier.

The fairest job (the *head*) picks the batch: jobs with its `batch_key` (same kind family, size, steps,
guidance, tiling, strength — see GenRequest.batch_key) and its tier are taken in fairness order while
their images fit in `max_images`. The head is always taken, even when it alone exceeds `max_images`.

Only a window of the fairest `:scan` jobs (max_images + 32) is considered for the batch, so a claim reads
few job rows however long the queue is.

PostgreSQL: the window's rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent workers take
disjoint batches without waiting for each other (a worker that finds the fairest jobs locked takes the
next ones); the UPDATE's `status = 'queued'` check is re-evaluated on the locked row, so a job is never
claimed twice. SQLite: the write transaction runs under
`BEGIN IMMEDIATE` (one writer at a time), and the statement is `UPDATE … WHERE id IN (SELECT …) RETURNING`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, Integer, Interval, String, TextualSelect, bindparam, text

from db.models import UTCDateTime

_RANKED = """
running AS (
    SELECT user_id, count(*) AS n FROM jobs WHERE status = 'running' GROUP BY user_id
),
tiered AS (
    SELECT j.id, j.user_id, j.model, j.created_at,
           CASE WHEN j.mode = 'turbo' THEN 0
                WHEN j.mode = 'relax' AND j.created_at > :relax_before THEN 2
                ELSE 1 END AS tier
    FROM jobs j
    WHERE j.status = 'queued' {model_filter}
),
ranked AS (
    SELECT t.*, row_number() OVER (PARTITION BY t.model, t.user_id ORDER BY t.tier, t.created_at, t.id) AS rn
    FROM tiered t
),
eligible AS (
    SELECT r.id, r.model, r.created_at, r.tier, u.last_claimed_at, r.rn + coalesce(run.n, 0) AS place
    FROM ranked r
    JOIN users u ON u.id = r.user_id
    LEFT JOIN running run ON run.user_id = r.user_id
    {eligible_filter}
)"""
# `tiered` reads only the covering index ix_jobs_claim (status, model, user_id, created_at, id, mode). Job
# rows are read only for the candidate window: the `:scan` fairest jobs that may start now.
# Tiers: Turbo 0, Fast 1, Relax 2 — or 1 once it was queued before :relax_before (queue.relax_max_wait
# ago). Fairness (place, round-robin) holds within a tier; a user's own jobs line up Turbo first.

_ORDER = "tier, place, last_claimed_at NULLS FIRST, created_at, id"
_E_ORDER = "e.tier, e.place, e.last_claimed_at NULLS FIRST, e.created_at, e.id"

_PICKED = f"""
picked AS (
    SELECT c.id, row_number() OVER w AS pos, sum(c.image_count) OVER w AS cum
    FROM (
        SELECT * FROM candidates
        WHERE (batch_key, tier) = (SELECT h.batch_key, h.tier FROM candidates h ORDER BY {_ORDER} LIMIT 1)
        ORDER BY {_ORDER}
        LIMIT :max_images
    ) c
    WINDOW w AS (ORDER BY c.place, c.last_claimed_at NULLS FIRST, c.created_at, c.id)
)"""

_SET = """
    status = 'running', lease_owner = :worker, lease_expires_at = {expires}, started_at = :now,
    attempts = jobs.attempts + 1, progress = 0"""
# On PostgreSQL the lease is stamped by the database's clock unless the caller passes its own (:expires).
_EXPIRES_POSTGRESQL = "coalesce(:expires, now() + :lease)"
_EXPIRES_SQLITE = ":expires"

_RETURNING = """
RETURNING jobs.id, jobs.user_id, jobs.kind, jobs.spec, jobs.seed, jobs.strength, jobs.attempts,
          jobs.image_count, jobs.parent_job_id, jobs.parent_index, jobs.edit, jobs.created_at"""

# A pause (the operators' or a guild's) refuses new submissions; the jobs already queued still run.
_ELIGIBLE = """WHERE r.rn <= :max_running AND r.rn + coalesce(run.n, 0) <= :max_running"""

_CLAIM_RANKED = _RANKED.format(model_filter="AND j.model = :model", eligible_filter=_ELIGIBLE)

CLAIM_POSTGRESQL = f"""
WITH {_CLAIM_RANKED},
fairest AS (
    SELECT * FROM eligible e ORDER BY {_E_ORDER}
),
candidates AS (  -- each job row fetched and locked by its primary key, whatever the table statistics
    SELECT e.id, j.batch_key, j.image_count, e.tier, e.place, e.last_claimed_at, e.created_at
    FROM fairest e CROSS JOIN LATERAL (
        SELECT jl.batch_key, jl.image_count FROM jobs jl
        WHERE jl.id = e.id AND jl.status = 'queued'
        FOR UPDATE SKIP LOCKED
    ) j
    ORDER BY {_E_ORDER}
    LIMIT :scan
),{_PICKED},
claimed AS (
    UPDATE jobs SET {_SET.format(expires=_EXPIRES_POSTGRESQL)}
    FROM picked p
    WHERE jobs.id = p.id AND jobs.status = 'queued' AND (p.cum <= :max_images OR p.pos = 1)
    {_RETURNING}
),
served AS (  -- round-robin bookkeeping; a user row locked by an enqueue or a ban is skipped, not awaited
    UPDATE users SET last_claimed_at = :now
    WHERE id IN (SELECT u.id FROM users u WHERE u.id IN (SELECT user_id FROM claimed) FOR UPDATE SKIP LOCKED)
)
SELECT * FROM claimed"""

CLAIM_SQLITE = f"""
WITH {_CLAIM_RANKED},
candidates AS (
    SELECT e.id, j.batch_key, j.image_count, e.tier, e.place, e.last_claimed_at, e.created_at
    FROM (SELECT * FROM eligible ORDER BY {_ORDER} LIMIT :scan) e JOIN jobs j ON j.id = e.id
),{_PICKED}
UPDATE jobs SET {_SET.format(expires=_EXPIRES_SQLITE)}
WHERE jobs.status = 'queued'
  AND jobs.id IN (SELECT p.id FROM picked p WHERE p.cum <= :max_images OR p.pos = 1)
{_RETURNING}"""

# Positions of every queued job in its model's claim order (ignoring max_running: a user's later jobs
# simply come after their earlier ones).
POSITIONS = f"""
WITH {_RANKED.format(model_filter="", eligible_filter="")}
SELECT e.id, row_number() OVER (PARTITION BY e.model ORDER BY {_ORDER}) AS position FROM eligible e"""


def claim_statement(dialect: str) -> TextualSelect:
    sql = CLAIM_POSTGRESQL if dialect == "postgresql" else CLAIM_SQLITE
    lease = [bindparam("lease", type_=Interval())] if dialect == "postgresql" else []
    return (
        text(sql)
        .bindparams(
            *lease,
            bindparam("now", type_=UTCDateTime()),
            bindparam("expires", type_=UTCDateTime()),
            bindparam("worker", type_=String()),
            bindparam("model", type_=String()),
            bindparam("max_images", type_=Integer()),
            bindparam("max_running", type_=Integer()),
            bindparam("relax_before", type_=UTCDateTime()),
        )
        .columns(
            id=String(),
            user_id=BigInteger(),
            kind=String(),
            spec=JSON(),
            seed=BigInteger(),
            strength=Float(),
            attempts=Integer(),
            image_count=Integer(),
            parent_job_id=String(),
            parent_index=Integer(),
            edit=JSON(),
            created_at=UTCDateTime(),
        )
    )


def positions_statement(relax_before: datetime) -> TextualSelect:
    """Queue positions; Relax jobs queued after `relax_before` still wait behind Fast and Turbo work."""
    return (
        text(POSITIONS)
        .bindparams(bindparam("relax_before", value=relax_before, type_=UTCDateTime()))
        .columns(id=String(), position=Integer())
    )
