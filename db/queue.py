"""The durable job queue, as roles over one database: each consumer is handed only the role(s) it needs.

    queue = Queue.open(settings.database, QueuePolicy.from_settings(settings.quota, settings.queue))
    [job] = await queue.admission.enqueue(user_id, [spec], model=settings.gen.model, delivery=target)
    batch = await queue.lifecycle.claim(worker_id, model=engine.model_id, max_images=8)
    await queue.lifecycle.complete_many(worker_id, results)
    await queue.close()

| role        | who holds it                | may                                                           |
|-------------|-----------------------------|---------------------------------------------------------------|
| `admission` | /imagine, buttons, the CLI  | enqueue within quota and limits; read and write /settings     |
| `lifecycle` | a worker                    | claim, heartbeat, progress, complete, fail, release, requeue  |
| `outbox`    | the bot's delivery loop     | find undelivered and running jobs; record progress/results    |
| `admin`     | /admin, `imaginebot admin`  | quotas, bans, cancel, pause and resume (audited)              |
| `moderation`| /imagine, /admin words/audit| banned words, strikes and timeouts, the audit log             |
| `reads`     | anyone                      | look at jobs, images, quotas, the paused flag and statistics  |
| `retention` | `imaginebot db prune`, bot  | delete images past storage.keep_days, erase expired tokens    |

The `jobs` table is the queue, the history and the delivery outbox at once. Every role of one Queue
shares its `Database` (one pool, one SQLite write lock, one set of in-process wake-ups) and its `Quotas`.
"""

from __future__ import annotations

from typing import Literal, Self

from sqlalchemy.ext.asyncio import AsyncEngine

from db.admin import Admin
from db.admission import Admission, new_job_id
from db.database import Clock, Database
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
from db.guilds import Guilds
from db.lifecycle import Lifecycle
from db.moderation import AuditEntry, Moderation, StrikeOutcome, Timeout
from db.outbox import Outbox
from db.policy import QueuePolicy
from db.quota import Quotas
from db.reads import Reads
from db.records import (
    CancelOutcome,
    ClaimedJob,
    DeliveryTarget,
    JobRecord,
    ProgressUpdate,
    PruneReport,
    QueueStats,
    QuotaInfo,
    RequeueReport,
    SourceFile,
)
from db.records import JobImage as JobImageRecord
from db.retention import Retention
from db.session import create_engine
from imaginebot.core.config import DatabaseSettings

# The roles, records and errors, importable from here too (`from db.queue import Queue, JobRecord`).
__all__ = [
    "Admin",
    "Admission",
    "AuditEntry",
    "Banned",
    "CancelOutcome",
    "ClaimedJob",
    "DeliveryTarget",
    "JobImageRecord",
    "JobNotFound",
    "JobRecord",
    "Lifecycle",
    "Moderation",
    "NotFound",
    "Outbox",
    "ProgressUpdate",
    "PruneReport",
    "Queue",
    "QueueFull",
    "QueuePaused",
    "QueuePolicy",
    "QueueRefusal",
    "QueueStats",
    "QuotaExceeded",
    "QuotaInfo",
    "Reads",
    "RequeueReport",
    "Retention",
    "SourceFile",
    "SourceImageMissing",
    "StrikeOutcome",
    "Timeout",
    "UserNotFound",
    "new_job_id",
]


class Queue:
    """The roles over one database; each consumer is handed only the role(s) it needs."""

    def __init__(
        self,
        engine: AsyncEngine,
        policy: QueuePolicy,
        *,
        clock: Clock | None = None,
        lease_clock: Literal["database", "local"] | None = None,
    ) -> None:
        self.database = Database(engine, policy, clock=clock, lease_clock=lease_clock)
        quotas, guilds = Quotas(self.database), Guilds(self.database)
        self.admission = Admission(self.database, quotas, guilds)
        self.lifecycle = Lifecycle(self.database)
        self.outbox = Outbox(self.database)
        self.admin = Admin(self.database, quotas, guilds)
        self.reads = Reads(self.database, quotas, guilds)
        self.moderation = Moderation(self.database, self.admin)
        self.retention = Retention(self.database, self.outbox)

    @classmethod
    def open(
        cls,
        database: DatabaseSettings,
        policy: QueuePolicy,
        *,
        clock: Clock | None = None,
        lease_clock: Literal["database", "local"] | None = None,
    ) -> Self:
        """A queue on `database.url` with its own engine (closed by `close()`)."""
        return cls(create_engine(database), policy, clock=clock, lease_clock=lease_clock)

    @property
    def engine(self) -> AsyncEngine:
        return self.database.engine

    async def close(self) -> None:
        await self.engine.dispose()
