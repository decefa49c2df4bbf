"""jobs.gpu_seconds: the device time a succeeded job cost, its share of its batch's generation time
(imaginebot.core.gpu_time). NULL for jobs that did not succeed and for rows written before this revision.

A nullable column only: nothing is copied, so SQLite needs no table rebuild. Downgrading drops it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("gpu_seconds", sa.Float, nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE on both backends, like 0002: a batch-mode drop would copy `jobs`, and dropping the
    # old table would delete every image (ON DELETE CASCADE).
    op.drop_column("jobs", "gpu_seconds")
