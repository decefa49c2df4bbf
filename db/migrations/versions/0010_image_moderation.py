"""job_images.flagged: image moderation's verdict on each image (gen.safety): true when the check flagged
it, false when it passed, NULL when nothing checked it (`moderation.image_check = "off"`, a model without
a checker, and rows written before this revision). The bot spoilers or withholds flagged images.

A nullable column only: nothing is copied, so SQLite needs no table rebuild. Downgrading drops it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("job_images", sa.Column("flagged", sa.Boolean, nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE on both backends, like 0008: a batch-mode drop would copy every image's bytes.
    op.drop_column("job_images", "flagged")
