"""The durable job queue: the one facade the bot, the worker and the CLI use.

    queue = Queue.open(settings)          # or Queue(engine, settings)
    [job] = await queue.enqueue(user_id, [spec], model=settings.gen.model, delivery=target)
    batch = await queue.claim(worker_id, model=engine.model_id, max_images=settings.queue.max_batch)
    await queue.complete_many(worker_id, results)
    await queue.close()

The `jobs` table is the queue, the history and the delivery outbox at once; see the modules mixed in
below for each part (`lifecycle` for claim/lease/finish, `quota`, `admin`, `reads`, `outbox`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from db.admin import AdminOps
from db.admission import AdmissionOps
from db.core import Clock
from db.errors import (
    Banned,
    JobNotFound,
    NotFound,
    QueueFull,
    QueuePaused,
    QueueRefusal,
    QuotaExceeded,
    SourceImageMissing,
    UserNotFound,
)
from db.lifecycle import LifecycleOps
from db.models import JOB_ID_LENGTH
from db.outbox import OutboxOps
from db.records import (
    CancelOutcome,
    ClaimedJob,
    DeliveryTarget,
    JobRecord,
    ProgressUpdate,
    QueueStats,
    QuotaInfo,
    RequeueReport,
)
from db.records import JobImage as JobImageRecord
from db.session import create_engine
from db.wake import Wakeup
from imaginebot.core.config import Settings
from imaginebot.core.domain import (
    SEED_MAX,
    UPSCALE_STRENGTH,
    VARIATION_STRENGTHS,
    GenRequest,
    JobKind,
    JobSpec,
    JobStatus,
    VariationStrength,
)

__all__ = [
    "Banned",
    "CancelOutcome",
    "ClaimedJob",
    "DeliveryTarget",
    "JobImageRecord",
    "JobNotFound",
    "JobRecord",
    "NotFound",
    "ProgressUpdate",
    "Queue",
    "QueueFull",
    "QueuePaused",
    "QueueRefusal",
    "QueueStats",
    "QuotaExceeded",
    "QuotaInfo",
    "RequeueReport",
    "SourceImageMissing",
    "UserNotFound",
    "new_job_id",
]

_SOURCE_KINDS = (JobKind.UPSCALE, JobKind.VARIATION)


def new_job_id() -> str:
    """12 URL-safe characters (72 random bits): short enough for button custom ids and file names."""
    return secrets.token_urlsafe(JOB_ID_LENGTH * 3 // 4)


def default_strength(kind: JobKind) -> float | None:
    if kind is JobKind.UPSCALE:
        return UPSCALE_STRENGTH
    if kind is JobKind.VARIATION:
        return VARIATION_STRENGTHS[VariationStrength.STRONG]
    return None


class Queue(AdmissionOps, LifecycleOps, AdminOps, OutboxOps):
    def __init__(self, engine: AsyncEngine, settings: Settings, *, clock: Clock | None = None) -> None:
        super().__init__(engine, settings, clock=clock)

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock | None = None) -> Queue:
        """A queue on `settings.database.url` with its own engine (closed by `close()`)."""
        return cls(create_engine(settings.database.url, echo=settings.database.echo), settings, clock=clock)

    async def close(self) -> None:
        await self.engine.dispose()

    def wakeup(self) -> Wakeup:
        """`async with queue.wakeup() as wake: await wake.wait(timeout)` — see db/wake.py."""
        return Wakeup(self)

    async def enqueue(
        self,
        user_id: int,
        specs: Sequence[JobSpec],
        *,
        kind: JobKind = JobKind.IMAGINE,
        model: str,
        parent: tuple[str, int] | None = None,
        strength: float | None = None,
        delivery: DeliveryTarget | None = None,
    ) -> list[JobRecord]:
        """Admit all of `specs` as jobs for `user_id`, or none of them.

        In one write transaction (the user's row locked on PostgreSQL, BEGIN IMMEDIATE on SQLite; shared
        with concurrent enqueues of this process, see db/admission.py): refuses with Banned, QueuePaused,
        QuotaExceeded (`quota.daily_jobs` per UTC day, or the user's override; every spec is one job) or
        QueueFull (`quota.max_queued` waiting jobs); otherwise inserts one job per spec, charged, with a
        random seed where the spec has none. `parent` is (job id, 1-based image index) for upscale and
        variation jobs (SourceImageMissing when that image does not exist).
        """
        if not specs:
            raise ValueError("enqueue needs at least one JobSpec")
        if (kind in _SOURCE_KINDS) != (parent is not None):
            raise ValueError(
                f"{kind.value} jobs {'need' if kind in _SOURCE_KINDS else 'take no'} parent image"
            )
        if strength is None:
            strength = default_strength(kind)
        now = self.now()
        # Consecutive microseconds keep a request's jobs (repeats, permutations) in order in the queue.
        rows = [
            self._job_row(
                user_id, spec, kind, model, parent, strength, delivery, now + timedelta(microseconds=k)
            )
            for k, spec in enumerate(specs)
        ]
        rows = await self._admit(rows, user_id, parent, now)
        return [JobRecord.from_row(r) for r in rows]

    @staticmethod
    def _job_row(
        user_id: int,
        spec: JobSpec,
        kind: JobKind,
        model: str,
        parent: tuple[str, int] | None,
        strength: float | None,
        delivery: DeliveryTarget | None,
        now: datetime,
    ) -> dict[str, object]:
        seed = secrets.randbelow(SEED_MAX + 1) if spec.seed is None else spec.seed
        if not 0 <= seed <= SEED_MAX:
            raise ValueError(f"seed must be between 0 and {SEED_MAX}, not {seed}")
        spec = replace(spec, seed=seed)
        job_id = new_job_id()
        key = GenRequest(job_id, kind, spec, seed, None, strength).batch_key()
        d = delivery
        return {
            "id": job_id,
            "user_id": user_id,
            "kind": kind,
            "status": JobStatus.QUEUED,
            "model": model,
            "spec": spec.to_json(),
            "seed": seed,
            "batch_key": json.dumps(list(key)),
            "image_count": kind.image_count,
            "parent_job_id": parent[0] if parent else None,
            "parent_index": parent[1] if parent else None,
            "strength": strength,
            "attempts": 0,
            "progress": 0,
            "error": None,
            "charged": True,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "guild_id": d.guild_id if d else None,
            "channel_id": d.channel_id if d else None,
            "interaction_id": d.interaction_id if d else None,
            "interaction_token": d.interaction_token if d else None,
            "token_expires_at": d.token_expires_at if d else None,
            "application_id": d.application_id if d else None,
            "progress_message_id": None,
            "result_message_id": None,
            "delivered_at": None,
            "delivery_attempts": 0,
        }
