"""Every sentence the command line says to a person, in one place: one line each, for stderr or stdout.

The queue raises typed errors that carry data (db/errors.py); they are worded here for the shell, and in
bot/messages.py for Discord.
"""

from __future__ import annotations

from db.errors import (
    Banned,
    FastTimeUsedUp,
    JobNotFound,
    NotFound,
    QueueFull,
    QueuePaused,
    QueueRefusal,
    QuotaExceeded,
    RelaxDisabled,
    SourceImageMissing,
    UserNotFound,
)
from db.moderation import AuditEntry
from db.records import CancelOutcome, JobRecord, QuotaInfo
from imaginebot.core.domain import Failure
from imaginebot.core.gpu_time import minutes

# --------------------------------------------------------------------------------------------- refusals


def refusal(err: QueueRefusal) -> str:
    """Why the queue turned a request down (nothing was queued or charged)."""
    if isinstance(err, Banned):
        why = f" ({err.reason})" if err.reason else ""
        return f"user is banned{_in(err.guild_id)}{why}; nothing was queued"
    if isinstance(err, QuotaExceeded):
        return (
            f"daily quota used up{_in(err.guild_id)}: {err.used} of {err.limit} jobs today, this request "
            f"needs {err.requested}; it resets at {err.resets_at:%Y-%m-%d %H:%M} UTC"
        )
    if isinstance(err, QueueFull):
        return f"{err.queued} jobs already waiting (at most {err.limit}); this request adds {err.requested}"
    if isinstance(err, QueuePaused):
        return f"the queue is paused{_in(err.guild_id)} (`imaginebot admin resume` lifts it)"
    if isinstance(err, SourceImageMissing):
        return f"image {err.index} of job {err.job_id} does not exist (the job did not finish?)"
    if isinstance(err, FastTimeUsedUp):
        return (
            f"Fast GPU time used up: {minutes(err.used)} of {minutes(err.limit)} today, this request needs "
            f"about {minutes(err.requested)}, and Relax mode is off (quota.relax_enabled); it resets at "
            f"{err.resets_at:%Y-%m-%d %H:%M} UTC"
        )
    if isinstance(err, RelaxDisabled):
        return "Relax mode is off on this bot (quota.relax_enabled = false): use --fast or --turbo"
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


def one_model_per_run(models: list[str]) -> str:
    return (
        f"one model per `imagine` run: this prompt asks for {', '.join(models)}; "
        "run one command per model (nothing was queued)"
    )


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
    if reason is Failure.OUT_OF_MEMORY:
        return f"too large for the GPU's memory even alone ({detail}); try a smaller --ar; refunded"
    if reason is Failure.BAD_INPUT:
        return f"the image generator cannot use this job's input: {detail}; refunded"
    if reason is Failure.NO_WORKER:
        return f"no worker serves its model ({detail}) any more; refunded"
    if reason is Failure.DEVICE_ERROR:
        return f"the device failed on every try: {detail}; refunded"
    return detail or "no reason given"


# --------------------------------------------------------------------------------------------- admin


def quota_set(user_id: int, info: QuotaInfo) -> str:
    g = info.guild
    if g is not None:
        return (
            f"user {user_id}: daily limit in guild {g.guild_id} set to {g.daily_limit} "
            f"({g.used_today} used there today; effective limit {info.effective_limit})"
        )
    fast = (
        f"Fast GPU minutes {info.fast_limit_seconds / 60:g} a day" if info.fast_limit_seconds > 0
        else "Fast GPU time unlimited"
    )
    return (
        f"user {user_id}: daily limit {info.daily_limit} "
        f"({info.used_today} used today, {info.left_today} left); "
        f"{fast} ({minutes(info.fast_used_seconds)} used)"
    )


def quota_reset(user_id: int, info: QuotaInfo) -> str:
    g = info.guild
    if g is not None:
        return (
            f"user {user_id}: guild {g.guild_id}'s limit removed "
            f"(effective limit {info.effective_limit} a day, the global one)"
        )
    return f"user {user_id}: quota reset (limit {info.daily_limit} a day, today's usage forgotten)"


def _in(guild_id: int | None) -> str:
    return "" if guild_id is None else f" in guild {guild_id}"


def banned(user_id: int, cancelled: int, guild_id: int | None = None) -> str:
    extra = f"; {cancelled} queued job(s) cancelled and refunded" if cancelled else ""
    return f"user {user_id} banned{_in(guild_id)}{extra}"


def unbanned(user_id: int, guild_id: int | None = None) -> str:
    return f"user {user_id} unbanned{_in(guild_id)}"


def cancelled(job: JobRecord, outcome: CancelOutcome) -> str:
    if outcome is CancelOutcome.REFUNDED:
        return f"job {job.id} cancelled (it was queued; the quota was refunded)"
    if outcome is CancelOutcome.STOPPING:
        return f"job {job.id} cancelled (it was running; its worker stops and the quota was refunded)"
    return f"job {job.id} had already {job.status.value}; nothing to cancel"


def paused(changed: bool, guild_id: int | None = None) -> str:
    if guild_id is not None:
        if changed:
            return f"guild {guild_id} paused: its new jobs are refused; its queued jobs still run"
        return f"guild {guild_id} was already paused"
    if changed:
        return "queue paused: no new jobs are accepted; queued and running jobs still run"
    return "the queue was already paused"


def resumed(changed: bool, guild_id: int | None = None) -> str:
    if guild_id is not None:
        return f"guild {guild_id} resumed" if changed else f"guild {guild_id} was not paused"
    return "queue resumed" if changed else "the queue was not paused"


def guild_paused(guild_id: int) -> str:
    return f"(guild {guild_id} is paused: its new jobs are refused)"


QUEUE_IS_PAUSED = "(the queue is paused)"


def audit_line(e: AuditEntry) -> str:
    """An audit entry for the shell: `2026-12-07 20:59:42  cli:ops  ban  1234  spam  (guild 55)`."""
    where = f"  (guild {e.guild_id})" if e.guild_id is not None else ""
    detail = f"  {e.detail}" if e.detail else ""
    return f"{e.at:%Y-%m-%d %H:%M:%S}  {e.actor}  {e.action}  {e.target}{detail}{where}"
