"""Typed records the queue hands out. Plain frozen dataclasses: no ORM objects leave `db/`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imaginebot.core.domain import Failure, GenRequest, JobKind, JobSpec, JobStatus
from imaginebot.core.edits import EditPlan


@dataclass(frozen=True, slots=True)
class SourceFile:
    """An image file a job starts from (`imaginebot edit FILE …`): PNG bytes and their size."""

    png: bytes = field(repr=False)
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """Where a job's progress and result go on Discord. The token is never shown in a repr or a log."""

    guild_id: int | None
    channel_id: int
    interaction_id: int | None = None
    interaction_token: str | None = field(default=None, repr=False)
    application_id: int | None = None
    token_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    user_id: int
    kind: JobKind
    status: JobStatus
    spec: JobSpec
    seed: int
    model: str
    image_count: int
    strength: float | None
    parent_job_id: str | None
    parent_index: int | None
    attempts: int
    progress: int
    failure: Failure | None  # why it ended without images (None: it did not, or a row from before 0002)
    error: str | None  # with `failure`: its detail, possibly None; without: a sentence for the user
    charged: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    guild_id: int | None = None
    channel_id: int | None = None
    interaction_id: int | None = None
    interaction_token: str | None = field(default=None, repr=False)
    application_id: int | None = None
    token_expires_at: datetime | None = None
    progress_message_id: int | None = None
    result_message_id: int | None = None
    delivered_at: datetime | None = None
    delivery_attempts: int = 0
    position: int | None = None  # 1-based place in the claim order while queued, else None
    edit: EditPlan | None = None  # the geometry of an edit (zoom, pan, square, region, second upscale)
    gpu_seconds: float | None = None  # a succeeded job's share of its batch's device time, else None
    mode: str = "fast"  # "fast" | "turbo" | "relax": how it is queued (Relax also when Fast time ran out)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], position: int | None = None) -> JobRecord:
        values = {name: row[name] for name in cls.__dataclass_fields__ if name in row}
        values["kind"] = JobKind(row["kind"])
        values["status"] = JobStatus(row["status"])
        values["spec"] = JobSpec.from_json(row["spec"])
        values["failure"] = Failure(row["failure"]) if row["failure"] is not None else None
        values["position"] = position
        edit = row.get("edit")
        values["edit"] = EditPlan.from_json(edit) if edit else None
        return cls(**values)

    @property
    def delivery(self) -> DeliveryTarget | None:
        if self.channel_id is None:
            return None
        return DeliveryTarget(
            self.guild_id,
            self.channel_id,
            self.interaction_id,
            self.interaction_token,
            self.application_id,
            self.token_expires_at,
        )

    def to_json(self) -> dict[str, Any]:
        """The job line of `imaginebot admin queue --json` (and the start of `imaginebot jobs --json`'s)."""
        return {
            "job_id": self.id,
            "user_id": self.user_id,
            "kind": self.kind.value,
            "status": self.status.value,
            "attempts": self.attempts,
            "position": self.position,
            "guild_id": self.guild_id,
            "delivered": self.delivered_at is not None,
        }

    def history_json(self) -> dict[str, Any]:
        """The line of `imaginebot jobs --json`: `to_json`, the job's GPU seconds (3 decimals) and mode."""
        gpu = None if self.gpu_seconds is None else round(self.gpu_seconds, 3)
        return {**self.to_json(), "gpu_seconds": gpu, "mode": self.mode}


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job a worker now holds the lease on, with everything needed to generate it."""

    id: str
    user_id: int
    kind: JobKind
    spec: JobSpec
    seed: int
    strength: float | None
    attempts: int
    image_count: int
    parent_job_id: str | None = None
    parent_index: int | None = None
    source_png: bytes | None = field(default=None, repr=False)  # the parent image, or the source file
    edit: EditPlan | None = None
    images: tuple[bytes, ...] = field(default=(), repr=False)  # image prompts (PNG), in order
    image_embeds: bytes | None = field(default=None, repr=False)  # their stored IP-Adapter embeddings

    def request(self) -> GenRequest:
        return GenRequest(
            self.id, self.kind, self.spec, self.seed, self.source_png, self.strength, self.edit,
            images=self.images, image_embeds=self.image_embeds,
        )


@dataclass(frozen=True, slots=True)
class JobImage:
    job_id: str
    index: int  # 1-based, as on the U1…U4 buttons
    png: bytes = field(repr=False)
    width: int
    height: int
    flagged: bool = False  # image moderation flagged it (False also when it was not checked)


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    job_id: str
    percent: int
    preview_jpeg: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    user_id: int
    daily_limit: int
    used_today: int
    left_today: int
    queued: int
    running: int
    banned: bool
    resets_at: datetime
    ban_reason: str | None = None
    limit_overridden: bool = False
    guild: GuildQuota | None = None  # asked for one guild: its moderators' limit, ban and usage there
    fast_limit_seconds: float = 0.0  # Fast time a day (quota.fast_gpu_minutes or the override); 0 = unlimited
    fast_used_seconds: float = 0.0  # Fast time used today (Turbo counts quota.turbo_factor times)
    fast_overridden: bool = False

    @property
    def fast_left_seconds(self) -> float | None:
        """Fast time left today; None: unlimited."""
        if self.fast_limit_seconds <= 0:
            return None
        return max(0.0, self.fast_limit_seconds - self.fast_used_seconds)

    @property
    def effective_limit(self) -> int:
        """What the member may use: the global limit, lowered by the guild's where it has one."""
        if self.guild is None or self.guild.daily_limit is None:
            return self.daily_limit
        return min(self.daily_limit, self.guild.daily_limit)

    def to_json(self) -> dict[str, Any]:
        """The line of `imaginebot admin quota show --json` (with `--guild`: that guild's part too)."""
        line: dict[str, Any] = {
            "user_id": self.user_id,
            "daily_limit": self.daily_limit,
            "used_today": self.used_today,
            "left_today": self.left_today,
            "queued": self.queued,
            "running": self.running,
            "banned": self.banned,
            "fast_gpu_minutes": round(self.fast_limit_seconds / 60.0, 3),
            "fast_minutes_used_today": round(self.fast_used_seconds / 60.0, 3),
        }
        if self.guild is not None:
            line["guild"] = self.guild.to_json()
            line["effective_limit"] = self.effective_limit
        return line


@dataclass(frozen=True, slots=True)
class GuildQuota:
    """One guild's view of a member: its own daily limit (None: none set), ban, and the member's usage of
    that guild today."""

    guild_id: int
    daily_limit: int | None
    used_today: int
    banned: bool
    ban_reason: str | None = None
    paused: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "guild_id": self.guild_id,
            "daily_limit": self.daily_limit,
            "used_today": self.used_today,
            "banned": self.banned,
            "paused": self.paused,
        }


@dataclass(frozen=True, slots=True)
class QueueStats:
    jobs_by_status: dict[str, int]
    images: int
    charged_today: int

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs_by_status": self.jobs_by_status,
            "images": self.images,
            "charged_today": self.charged_today,
        }


class CancelOutcome(enum.StrEnum):
    REFUNDED = "refunded"  # it was waiting: cancelled, and the quota given back
    STOPPING = "stopping"  # it was running: cancelled and refunded; its worker stops, dropping the results
    ALREADY_FINISHED = "already_finished"  # nothing changed


@dataclass(frozen=True, slots=True)
class RequeueReport:
    requeued: list[str]
    failed: list[str]


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one retention run (`queue.retention.prune`) deleted; the jobs themselves all stay."""

    jobs: int = 0  # finished jobs that lost their stored images (results or input files)
    images: int = 0  # job_images rows deleted
    inputs: int = 0  # job_inputs rows deleted
    bytes: int = 0  # PNG bytes of those images and inputs
    tokens: int = 0  # expired interaction tokens erased
    previews: int = 0  # leftover progress previews of finished jobs deleted

    @property
    def deleted_anything(self) -> bool:
        return any((self.jobs, self.images, self.inputs, self.tokens, self.previews))

    def to_json(self) -> dict[str, int]:
        return {
            "jobs": self.jobs,
            "images": self.images,
            "inputs": self.inputs,
            "bytes": self.bytes,
            "tokens": self.tokens,
            "previews": self.previews,
        }
