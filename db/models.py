"""The schema: users, jobs (queue and history in one table), images, previews, the admin audit log,
moderation (banned words, strikes) and the one-row queue state. Schema changes happen only through
Alembic revisions in `db/migrations/versions`.

Times are stored as UTC. SQLite has no time zone type, so `UTCDateTime` stores naive UTC there and hands
back aware datetimes everywhere; text SQL that compares times must bind them with this type too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from imaginebot.core.domain import Failure, JobKind, JobStatus

JOB_ID_LENGTH = 12


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (naive UTC text on SQLite, timestamptz on PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[JobKind] | type[JobStatus], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native PostgreSQL enum: portable, and a new kind is a plain migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


# Why a job ended without images: VARCHAR(32) without a CHECK, so a new reason needs no migration.
_FAILURE = Enum(
    Failure,
    name="job_failure",
    native_enum=False,
    create_constraint=False,
    length=32,
    values_callable=lambda e: [m.value for m in e],
)
_UNDELIVERED = text("delivered_at IS NULL AND channel_id IS NOT NULL")
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(AsyncAttrs, DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Discord user id
    banned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    ban_reason: Mapped[str | None] = mapped_column(Text)
    daily_limit: Mapped[int | None] = mapped_column(Integer)  # admin override of quota.daily_jobs
    fast_gpu_minutes: Mapped[float | None] = mapped_column(Float)  # admin override of quota.fast_gpu_minutes
    quota_reset_at: Mapped[datetime | None]  # jobs charged before this do not count today
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # UserDefaults.to_json()
    last_claimed_at: Mapped[datetime | None]  # round-robin tie-break: least recently served first
    created_at: Mapped[datetime]


class Job(Base):
    """One job: the queue entry while queued/running, the history row afterwards, and the delivery outbox."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "status", "model", "user_id", "created_at", "id", "mode"),
        Index("ix_jobs_user_status", "user_id", "status"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_created", "created_at"),
        Index("ix_jobs_guild_user_created", "guild_id", "user_id", "created_at"),
        Index("ix_jobs_undelivered", "finished_at", sqlite_where=_UNDELIVERED, postgresql_where=_UNDELIVERED),
        CheckConstraint("progress >= 0 AND progress <= 100", name="ck_jobs_progress"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind, "job_kind"))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"))
    model: Mapped[str] = mapped_column(String(512))  # gen.model at enqueue; workers claim only their own
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)  # JobSpec.to_json() with the seed filled in
    seed: Mapped[int] = mapped_column(BigInteger)
    batch_key: Mapped[str] = mapped_column(String(256))  # GenRequest.batch_key() as JSON, for GROUP BY
    image_count: Mapped[int] = mapped_column(Integer)
    parent_job_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="SET NULL"))
    parent_index: Mapped[int | None] = mapped_column(Integer)  # 1-based image of the parent (U1…U4/V1…V4)
    strength: Mapped[float | None] = mapped_column(Float)
    edit: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # an edit's EditPlan.to_json()
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times claimed
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    progress: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[Failure | None] = mapped_column(_FAILURE)  # NULL: succeeded, or a row from before 0002
    # With `failure`: its detail (the engine's message; for worker_lost the claims made), or NULL.
    # Without (rows from before revision 0002): a sentence for the user.
    error: Mapped[str | None] = mapped_column(Text)
    charged: Mapped[bool] = mapped_column(Boolean, default=True)  # counts against the quota; refund = false
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Delivery (outbox): where the result goes, and what has been posted.
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    interaction_id: Mapped[int | None] = mapped_column(BigInteger)
    interaction_token: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]
    application_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)
    delivered_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A succeeded job's share of its batch's generation time (imaginebot.core.gpu_time); NULL otherwise.
    gpu_seconds: Mapped[float | None] = mapped_column(Float)
    # Speed mode (imaginebot.core.gpu_time): "fast", "turbo" (claimed first) or "relax" (claimed when no
    # Fast or Turbo job waits, or after queue.relax_max_wait). Fast time used = (gpu_seconds, or the
    # reservation `gpu_estimate` until it is measured) × `fast_factor` (1, quota.turbo_factor, or 0).
    mode: Mapped[str] = mapped_column(String(8), server_default="fast")
    fast_factor: Mapped[float] = mapped_column(Float, server_default="1")
    gpu_estimate: Mapped[float | None] = mapped_column(Float)
    work_units: Mapped[float | None] = mapped_column(Float)  # images × steps × pixels (gpu_time.work_units)


class JobImage(Base):
    """A finished image. The primary key (job_id, index) makes a repeated write of the same result a no-op."""

    __tablename__ = "job_images"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column("image_index", Integer, primary_key=True)  # 1-based
    png: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    # Image moderation's verdict (gen.safety): True flagged, False passed, NULL not checked (0010).
    flagged: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


# job_inputs roles: an edit's source file (position 1), image prompts (positions 11, 12, …, in order), and
# their IP-Adapter embeddings once the worker computed them (safetensors bytes in `png`, size 0×0).
SOURCE_ROLE = "source"
PROMPT_ROLE = "prompt"
PROMPT_POSITION = 11
EMBEDS_ROLE = "ip_embeds"
EMBEDS_POSITION = 99


class JobInput(Base):
    """An image a job was given rather than made from another job's image (the file of `imaginebot edit
    FILE …`, image prompts): `role` says what it is for (SOURCE_ROLE, PROMPT_ROLE, EMBEDS_ROLE)."""

    __tablename__ = "job_inputs"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class JobPreview(Base):
    """The latest progress preview of a running job (small JPEG); removed when the job finishes."""

    __tablename__ = "job_previews"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class AdminAudit(Base):
    """Who changed what, when: every admin action and every automatic moderation step (a row each)."""

    __tablename__ = "admin_audit"
    __table_args__ = (
        Index("ix_admin_audit_user", "user_id", "id"),
        Index("ix_admin_audit_guild", "guild_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))  # "discord:<id>", "cli:<login>" or "moderation"
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")  # the detail: a reason, a limit, a word
    guild_id: Mapped[int | None] = mapped_column(BigInteger)  # where it applies; NULL: everywhere
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # the member it concerns (a job's owner)


class BannedWord(Base):
    """A word refused in prompts, added at run time (`moderation.banned_words` in the config come on top).

    `guild_id` 0 is the operators' list, which applies everywhere; otherwise that guild's own list.
    """

    __tablename__ = "banned_words"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    word: Mapped[str] = mapped_column(String(100), primary_key=True)  # imaginebot.core.moderation form
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]


class Strike(Base):
    """A member's refused prompts and their timeout, per scope: `guild_id` 0 for the global words (the
    timeout then applies everywhere), else for that guild's words (a timeout in that guild only)."""

    __tablename__ = "strikes"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    timeout_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Guild(Base):
    """A guild's own switches, set by its moderators (`/admin pause` in that guild). No row: defaults."""

    __tablename__ = "guilds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Discord guild id
    paused: Mapped[bool] = mapped_column(Boolean, default=False)  # new jobs from this guild are refused
    updated_at: Mapped[datetime]


class GuildMember(Base):
    """What a guild's moderators decided about one user, in that guild only: a ban, a lower daily limit.

    No foreign key to `users`: a moderator may ban someone who never used the bot, in advance.
    """

    __tablename__ = "guild_members"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    ban_reason: Mapped[str | None] = mapped_column(Text)
    daily_limit: Mapped[int | None] = mapped_column(Integer)  # counts this guild's jobs; min with global
    updated_at: Mapped[datetime]


class WorkerPresence(Base):
    """A running worker and one model it serves (a row per model), seen at its last claim loop (removed
    when it stops).

    Queued jobs of a model no worker has served for `queue.unserved_after` seconds are failed and
    refunded instead of waiting for ever.
    """

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_model_seen", "model", "last_seen"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(512), primary_key=True)
    started_at: Mapped[datetime]
    last_seen: Mapped[datetime]


class QueueState(Base):
    """Exactly one row (id = 1), created by the initial migration."""

    __tablename__ = "queue_state"
    __table_args__ = (CheckConstraint("id = 1", name="ck_queue_state_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class JobThumbnail(Base):
    """A small JPEG of a job's image for the web gallery, made once on first view and kept: `image_index` 0
    is the job's cover (its images as one 2×2 mosaic, or the single image), 1… its images."""

    __tablename__ = "job_thumbnails"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column("image_index", Integer, primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class WebKey(Base):
    """A key the web gallery signs with (sessions, share links), made on first start when `web.secret` is
    not configured, so that every gallery process on this database and every restart agree on it."""

    __tablename__ = "web_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class ShareRevocation(Base):
    """"Stop sharing" on a job's gallery page: its share links made before `revoked_at` no longer work."""

    __tablename__ = "share_revocations"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    revoked_at: Mapped[datetime]
