"""jobs.failure: why a job ended without images, as a code (imaginebot.core.domain.Failure).

From this revision on, `jobs.error` holds only the failure's detail (the engine's message; for
`worker_lost` how many times the job was claimed), and the bot and the CLI word the pair for their
readers. Rows written before it keep their user-facing sentence in `error`, with `failure` NULL, and are
shown as before. Downgrading drops the codes: failed rows then show only their detail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both backends, not Alembic's batch mode: on SQLite a batch drop_column copies `jobs`
# into a new table and drops the old one, and with foreign keys on, dropping `jobs` deletes every image
# (ON DELETE CASCADE). SQLite has ADD COLUMN, and DROP COLUMN since 3.35 (2021).


def upgrade() -> None:
    # VARCHAR without a CHECK constraint: a new failure reason needs no migration.
    op.add_column("jobs", sa.Column("failure", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "failure")
