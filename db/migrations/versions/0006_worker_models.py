"""workers: one row per (worker, model) it serves — a worker may serve many models (gen.serve_models).

The rows are presence only (re-announced every few seconds by each running worker), so the table is
recreated with the new key rather than converted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create(primary_key: tuple[str, ...]) -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("model", sa.String(512), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key),
    )
    op.create_index("ix_workers_model_seen", "workers", ["model", "last_seen"])


def upgrade() -> None:
    op.drop_index("ix_workers_model_seen", table_name="workers")
    op.drop_table("workers")
    _create(("id", "model"))


def downgrade() -> None:
    op.drop_index("ix_workers_model_seen", table_name="workers")
    op.drop_table("workers")
    _create(("id",))
