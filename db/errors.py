"""What the queue refuses, and what it cannot find. Every message is meant for a person: what happened and
what to do. The bot shows `str(refusal)` as is; the CLI prints `str(not_found)` on one line."""

from __future__ import annotations

from datetime import datetime


class QueueRefusal(Exception):
    """A request the queue turned down. Nothing was inserted and nothing was charged."""

    @property
    def message(self) -> str:
        return str(self)


class Banned(QueueRefusal):
    def __init__(self, reason: str | None) -> None:
        self.reason = reason or ""
        because = f" (reason: {self.reason})" if self.reason else ""
        super().__init__(
            f"You are banned from generating images{because}. "
            "Ask a server admin if you think this is a mistake."
        )


class QuotaExceeded(QueueRefusal):
    def __init__(self, used: int, limit: int, requested: int, resets_at: datetime) -> None:
        self.used, self.limit, self.requested, self.resets_at = used, limit, requested, resets_at
        left = max(0, limit - used)
        needs = "" if requested == 1 else f"; this request needs {requested} and you have {left} left"
        super().__init__(
            f"You have used {used} of your {limit} jobs for today{needs}. "
            f"Your quota resets at {resets_at:%Y-%m-%d %H:%M} UTC — try again then."
        )


class QueueFull(QueueRefusal):
    def __init__(self, queued: int, limit: int, requested: int) -> None:
        self.queued, self.limit, self.requested = queued, limit, requested
        super().__init__(
            f"You already have {queued} job{'s' if queued != 1 else ''} waiting (at most {limit} at once"
            f"{'' if requested == 1 else f'; this request adds {requested}'}). "
            "Wait until some of them start, then try again."
        )


class QueuePaused(QueueRefusal):
    def __init__(self) -> None:
        super().__init__("The queue is paused by an admin, so no new jobs are accepted. Try again later.")


class SourceImageMissing(QueueRefusal):
    def __init__(self, job_id: str, index: int) -> None:
        self.job_id, self.index = job_id, index
        super().__init__(
            f"Image {index} of job {job_id} is not available (the job did not finish, or it has no such "
            "image). Use the buttons of a finished result."
        )


class NotFound(LookupError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class JobNotFound(NotFound):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}")


class UserNotFound(NotFound):
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"unknown user {user_id}: they have never used the bot")
