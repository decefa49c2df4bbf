"""What the queue refuses, and what it cannot find: typed errors that carry data, not sentences.

Each face words them for its readers (`bot/messages.py` for Discord, `imaginebot/app/messages.py` for the
command line). `str()` is a short technical line for logs.
"""

from __future__ import annotations

from datetime import datetime


class QueueRefusal(Exception):
    """A request the queue turned down. Nothing was inserted and nothing was charged."""

    guild_id: int | None = None  # set when a guild's own rule refused it (its ban, pause or limit)


class Banned(QueueRefusal):
    """Banned everywhere (`guild_id` None, by an operator) or from one guild (by its moderators)."""

    def __init__(self, reason: str | None, guild_id: int | None = None) -> None:
        self.reason = reason or ""
        self.guild_id = guild_id
        where = f" in guild {guild_id}" if guild_id is not None else ""
        super().__init__(f"banned{where} (reason: {self.reason!r})")


class QuotaExceeded(QueueRefusal):
    """The global daily limit (`guild_id` None), or a guild's lower limit counting that guild's jobs."""

    def __init__(
        self, used: int, limit: int, requested: int, resets_at: datetime, guild_id: int | None = None
    ) -> None:
        self.used, self.limit, self.requested, self.resets_at = used, limit, requested, resets_at
        self.guild_id = guild_id
        where = f" in guild {guild_id}" if guild_id is not None else ""
        super().__init__(
            f"daily quota exceeded{where}: {used} of {limit} used, {requested} requested, "
            f"resets at {resets_at:%Y-%m-%d %H:%M} UTC"
        )


class FastTimeUsedUp(QueueRefusal):
    """No Fast time left today for a Fast or Turbo job, where quota.relax_enabled is false (otherwise the
    job goes to Relax). Seconds of Fast time: used today, the daily limit, and what the request needs."""

    def __init__(self, used: float, limit: float, requested: float, resets_at: datetime) -> None:
        self.used, self.limit, self.requested, self.resets_at = used, limit, requested, resets_at
        super().__init__(
            f"fast time used up: {used:.1f} of {limit:.1f} s used, {requested:.1f} s requested, "
            f"resets at {resets_at:%Y-%m-%d %H:%M} UTC"
        )


class RelaxDisabled(QueueRefusal):
    """A Relax job where the operators turned Relax mode off (quota.relax_enabled = false)."""

    def __init__(self) -> None:
        super().__init__("relax mode is disabled")


class QueueFull(QueueRefusal):
    def __init__(self, queued: int, limit: int, requested: int) -> None:
        self.queued, self.limit, self.requested = queued, limit, requested
        super().__init__(f"queue full: {queued} of {limit} waiting, {requested} requested")


class QueuePaused(QueueRefusal):
    """Paused everywhere by an operator (`guild_id` None) or for one guild by its moderators."""

    def __init__(self, guild_id: int | None = None) -> None:
        self.guild_id = guild_id
        super().__init__("queue paused" if guild_id is None else f"queue paused for guild {guild_id}")


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
