"""Every sentence the command line says to a person, in one place: one line each, for stderr or stdout.

The queue raises typed errors that carry data (db/errors.py); they are worded here for the shell, and in
bot/messages.py for Discord.
"""

from __future__ import annotations

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
from db.records import CancelOutcome, JobRecord, QuotaInfo
from imaginebot.core.domain import Failure

# --------------------------------------------------------------------------------------------- refusals


def refusal(err: QueueRefusal) -> str:
    """Why the queue turned a request down (nothing was queued or charged)."""
    if isinstance(err, Banned):
        return f"user is banned{f' ({err.reason})' if err.reason else ''}; nothing was queued"
    if isinstance(err, QuotaExceeded):
        return (
            f"daily quota used up: {err.used} of {err.limit} jobs today, this request needs {err.requested}; "
            f"it resets at {err.resets_at:%Y-%m-%d %H:%M} UTC"
        )
    if isinstance(err, QueueFull):
        return f"{err.queued} jobs already waiting (at most {err.limit}); this request adds {err.requested}"
    if isinstance(err, QueuePaused):
        return "the queue is paused (`imaginebot admin resume` lifts it)"
    if isinstance(err, SourceImageMissing):
        return f"image {err.index} of job {err.job_id} does not exist (the job did not finish?)"
    return f"the queue refused the request: {err}"


def not_found(err: NotFound) -> str:
    if isinstance(err, JobNotFound):
        return f"no job with id {err.job_id!r}"
    if isinstance(err, UserNotFound):
        return unknown_user(err.user_id)
    return str(err)


def unknown_user(user_id: int) -> str:
    return f"unknown user {user_id}: they have never used the bot"


# --------------------------------------------------------------------------------------------- imagine


def job_not_succeeded(job: JobRecord) -> str:
    return f"job {job.id} {job.status}: {failure(job.failure, job.error)}"


def failure(reason: Failure | None, detail: str | None) -> str:
    if reason is Failure.ENGINE_FAILED:
        return f"the image generator failed: {detail}" if detail else "the image generator failed"
    if reason is Failure.ENGINE_ERROR:
        return "the image generator hit an unexpected error (the log has the traceback)"
    if reason is Failure.NO_IMAGES:
        return "the image generator returned no images"
    if reason is Failure.WORKER_LOST:
        return f"the worker generating it stopped responding ({detail or 'every attempt'}); refunded"
    if reason is Failure.BANNED:
        return "cancelled: the user was banned"
    return detail or "no reason given"


# --------------------------------------------------------------------------------------------- admin


def quota_set(user_id: int, info: QuotaInfo) -> str:
    return (
        f"user {user_id}: daily limit set to {info.daily_limit} "
        f"({info.used_today} used today, {info.left_today} left)"
    )


def quota_reset(user_id: int, info: QuotaInfo) -> str:
    return f"user {user_id}: quota reset (limit {info.daily_limit} a day, today's usage forgotten)"


def banned(user_id: int, cancelled: int) -> str:
    extra = f"; {cancelled} queued job(s) cancelled and refunded" if cancelled else ""
    return f"user {user_id} banned{extra}"


def unbanned(user_id: int) -> str:
    return f"user {user_id} unbanned"


def cancelled(job: JobRecord, outcome: CancelOutcome) -> str:
    if outcome is CancelOutcome.REFUNDED:
        return f"job {job.id} cancelled (it was queued; the quota was refunded)"
    if outcome is CancelOutcome.STOPPING:
        return f"job {job.id} cancelled (it was running; its worker stops and drops the results)"
    return f"job {job.id} had already {job.status.value}; nothing to cancel"


def paused(changed: bool) -> str:
    if changed:
        return "queue paused: no new jobs are accepted or started; running jobs finish"
    return "the queue was already paused"


def resumed(changed: bool) -> str:
    return "queue resumed" if changed else "the queue was not paused"


QUEUE_IS_PAUSED = "(the queue is paused)"
