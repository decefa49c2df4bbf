"""Edits: the new job kinds (upscale_subtle, upscale_creative, vary_region, zoom_out, pan, make_square),
`jobs.edit` (the edit's geometry, an EditPlan as JSON) and `job_inputs` (images a job was given rather
than made from another job: the file of `imaginebot edit FILE …`).

The kind column is VARCHAR + CHECK. PostgreSQL replaces the constraint. SQLite cannot alter a
constraint, and rebuilding `jobs` would delete every image through ON DELETE CASCADE, so the CHECK's
text in the schema is widened in place, SQLite's documented procedure for loosening a constraint (no
stored row changes: every row valid before is valid after). Downgrading deletes the jobs of the new
kinds (their images and previews go with them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("imagine", "upscale", "variation", "reroll")
NEW_KINDS = (
    *OLD_KINDS,
    "upscale_subtle",
    "upscale_creative",
    "vary_region",
    "zoom_out",
    "pan",
    "make_square",
)


def _check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _set_kinds(old: Sequence[str], new: Sequence[str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint("job_kind", "jobs", type_="check")
        op.create_check_constraint("job_kind", "jobs", _check(new))
        return
    # SQLite: https://www.sqlite.org/lang_altertable.html#otheralter (writable_schema, a new schema_version).
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
    ).scalar_one()
    before, after = f"CONSTRAINT job_kind CHECK ({_check(old)})", f"CONSTRAINT job_kind CHECK ({_check(new)})"
    if before not in sql:
        raise RuntimeError("jobs.kind's CHECK constraint is not the one this migration expects")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'jobs'",
            (sql.replace(before, after),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA quick_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"SQLite reports a damaged schema after widening jobs.kind: {problems[:3]}")


def upgrade() -> None:
    _set_kinds(OLD_KINDS, NEW_KINDS)
    op.add_column("jobs", sa.Column("edit", sa.JSON().with_variant(JSONB(), "postgresql")))
    op.create_table(
        "job_inputs",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_inputs")
    op.drop_column("jobs", "edit")
    new = ", ".join(f"'{k}'" for k in NEW_KINDS if k not in OLD_KINDS)
    op.execute(f"DELETE FROM jobs WHERE kind IN ({new})")
    _set_kinds(NEW_KINDS, OLD_KINDS)
