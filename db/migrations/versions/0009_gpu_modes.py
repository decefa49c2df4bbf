"""Fast, Relax and Turbo modes and GPU-minute quotas (imaginebot.core.gpu_time).

- `jobs.mode` ("fast" | "turbo" | "relax", default "fast" for every existing row), `jobs.fast_factor`
  (the Fast time a GPU second of the job costs: 1, quota.turbo_factor or 0), `jobs.gpu_estimate` (the
  seconds reserved at enqueue until `gpu_seconds` is measured) and `jobs.work_units`.
- `users.fast_gpu_minutes`: an operator's override of quota.fast_gpu_minutes.
- `ix_jobs_claim` gains `mode`, so the claim still reads only the index to rank the queue.

Columns with constant defaults only: SQLite adds them without a table rebuild.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAIM_BEFORE = ["status", "model", "user_id", "created_at", "id"]


def upgrade() -> None:
    op.add_column("jobs", sa.Column("mode", sa.String(8), nullable=False, server_default="fast"))
    op.add_column("jobs", sa.Column("fast_factor", sa.Float, nullable=False, server_default="1"))
    op.add_column("jobs", sa.Column("gpu_estimate", sa.Float, nullable=True))
    op.add_column("jobs", sa.Column("work_units", sa.Float, nullable=True))
    op.add_column("users", sa.Column("fast_gpu_minutes", sa.Float, nullable=True))
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index("ix_jobs_claim", "jobs", [*_CLAIM_BEFORE, "mode"])


def downgrade() -> None:
    # Plain ALTER TABLE on both backends, like 0008 (a batch-mode drop would copy `jobs` and cascade).
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index("ix_jobs_claim", "jobs", _CLAIM_BEFORE)
    op.drop_column("users", "fast_gpu_minutes")
    for column in ("work_units", "gpu_estimate", "fast_factor", "mode"):
        op.drop_column("jobs", column)
