"""Moderation: `banned_words` (added by /admin words), `strikes` (refused prompts and timeouts), and the
audit log's `guild_id` and `user_id` (where an action applies and whom it concerns, for /admin audit).

New tables and nullable columns only: nothing is copied, so SQLite needs no table rebuild. Existing audit
rows get their user and guild from their target where it names them ("<user>" or "<user>@guild:<id>");
the others (a job id, "queue") keep NULL. Downgrading drops the moderation tables and the two columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TARGET = re.compile(r"(?P<user>\d{1,20})(?:@guild:(?P<guild>\d{1,20}))?")


def upgrade() -> None:
    op.create_table(
        "banned_words",
        sa.Column("guild_id", sa.BigInteger, nullable=False),
        sa.Column("word", sa.String(100), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "word"),
    )
    op.create_table(
        "strikes",
        sa.Column("guild_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("timeout_until", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id"),
    )
    op.add_column("admin_audit", sa.Column("guild_id", sa.BigInteger))
    op.add_column("admin_audit", sa.Column("user_id", sa.BigInteger))
    op.create_index("ix_admin_audit_user", "admin_audit", ["user_id", "id"])
    op.create_index("ix_admin_audit_guild", "admin_audit", ["guild_id", "id"])
    audit = sa.table(
        "admin_audit", sa.column("id", sa.Integer), sa.column("target", sa.String),
        sa.column("guild_id", sa.BigInteger), sa.column("user_id", sa.BigInteger),
    )  # fmt: skip
    bind = op.get_bind()
    for row in bind.execute(sa.select(audit.c.id, audit.c.target)).all():
        match = _TARGET.fullmatch(row.target or "")
        if match is not None:
            guild = int(match["guild"]) if match["guild"] else None
            bind.execute(
                audit.update().where(audit.c.id == row.id).values(user_id=int(match["user"]), guild_id=guild)
            )


def downgrade() -> None:
    op.drop_index("ix_admin_audit_guild", table_name="admin_audit")
    op.drop_index("ix_admin_audit_user", table_name="admin_audit")
    # Plain ALTER TABLE on both backends, like 0002 (SQLite has DROP COLUMN since 3.35).
    op.drop_column("admin_audit", "user_id")
    op.drop_column("admin_audit", "guild_id")
    op.drop_table("strikes")
    op.drop_table("banned_words")
