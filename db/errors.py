"""What the queue refuses, and what it cannot find: typed errors that carry data, not sentences.

Each face words them for its readers (`bot/messages.py` for Discord, `imaginebot/app/messages.py` for the
command line). `str()` is a short technical line for logs.
"""

from __future__ import annotations

from datetime import datetime


class QueueRefusal(Exception):
    """A request the queue turned down. Nothing was inserted and nothing was charged."""


class Banned(QueueRefusal):
    def __init__(self, reason: str | None) -> None:
        self.reason = reason or ""
        super().__init__(f"banned (reason: {self.reason!r})")


class QuotaExceeded(QueueRefusal):
    def __init__(self, used: int, limit: int, requested: int, resets_at: datetime) -> None:
        self.used, self.limit, self.requested, self.resets_at = used, limit, requested, resets_at
        super().__init__(
            f"daily quota exceeded: {used} of {limit} used, {requested} requested, "
            f"resets at {resets_at:%Y-%m-%d %H:%M} UTC"
        )


class QueueFull(QueueRefusal):
    def __init__(self, queued: int, limit: int, requested: int) -> None:
        self.queued, self.limit, self.requested = queued, limit, requested
        super().__init__(f"queue full: {queued} of {limit} waiting, {requested} requested")


class QueuePaused(QueueRefusal):
    def __init__(self) -> None:
        super().__init__("queue paused")


class SourceImageMissing(QueueRefusal):
    def __init__(self, job_id: str, index: int) -> None:
        self.job_id, self.index = job_id, index
        super().__init__(f"no image {index} of job {job_id}")


class NotFound(LookupError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class JobNotFound(NotFound):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id!r}")


class UserNotFound(NotFound):
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"no user {user_id}")
