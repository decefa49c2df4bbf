"""The /admin command's replies (and the cancel outcomes shared with /cancel), as Discord markdown."""

from __future__ import annotations

from bot.messages import more_lines, shown_prompt
from db.records import CancelOutcome, JobRecord, QuotaInfo
from imaginebot.core.gpu_time import minutes

CANCELLED = {
    CancelOutcome.REFUNDED: "cancelled before it started; its quota was refunded.",
    CancelOutcome.STOPPING: "cancelled; it stops within a second or two and its quota was refunded.",
    CancelOutcome.ALREADY_FINISHED: "had already finished; nothing changed.",
}


def admin_quota(info: QuotaInfo, *, changed: bool = False) -> str:
    done = "✅ " if changed else ""
    override = " (set for them)" if info.limit_overridden else ""
    ban = f" — **banned**{': ' + info.ban_reason if info.ban_reason else ''}" if info.banned else ""
    text = (f"{done}<@{info.user_id}>: {info.used_today}/{info.daily_limit}{override} used today, "
            f"{info.left_today} left; {info.queued} queued, {info.running} running{ban}")
    text += "\n" + fast_time_line(info)
    g = info.guild
    if g is None:
        return text
    limit = f"{g.daily_limit} a day" if g.daily_limit is not None else "none"
    here_ban = f" — **banned here**{': ' + g.ban_reason if g.ban_reason else ''}" if g.banned else ""
    return (f"{text}\nOn this server: limit {limit}, {g.used_today} used today — "
            f"effective limit **{info.effective_limit}** a day{here_ban}")


def fast_time_line(info: QuotaInfo) -> str:
    """Fast GPU time today, for /info and /admin quota."""
    used = minutes(info.fast_used_seconds)
    if info.fast_limit_seconds <= 0:
        return f"Fast time: {used} used today (no daily limit)"
    override = " (set for them)" if info.fast_overridden else ""
    left = minutes(info.fast_left_seconds or 0.0)
    return f"Fast time: {used} of {minutes(info.fast_limit_seconds)}{override} used today, {left} left"


def quota_set_needs_a_value() -> str:
    return "Give `daily_jobs`, `gpu_minutes`, or both: nothing was changed."


def gpu_minutes_operators_only() -> str:
    return ("Fast GPU minutes count on every server, so only the bot's operators (admin.user_ids) set them. "
            "Nothing was changed.")


def admin_banned(user_id: int, reason: str, dropped: int, *, here: bool = False) -> str:
    why = f": {reason}" if reason else "."
    where = " on this server" if here else ""
    extra = f" {dropped} waiting job(s) cancelled and refunded." if dropped else ""
    return f"⛔ <@{user_id}> is banned{where}{why}{extra}"


def admin_unbanned(user_id: int, *, here: bool = False) -> str:
    if here:
        return (f"✅ <@{user_id}> may generate images on this server again "
                "(a ban by the bot's operators stays).")
    return f"✅ <@{user_id}> may generate images again."


def admin_queue(jobs: list[JobRecord], *, paused: bool, shown: int) -> str:
    head = "⏸️ The queue is paused.\n" if paused else ""
    if not jobs:
        return head + "The queue is empty."
    lines = [_admin_queue_line(j) for j in jobs[:shown]]
    more = "\n" + more_lines(len(jobs) - shown) if len(jobs) > shown else ""
    return head + "\n".join(lines) + more


def _admin_queue_line(job: JobRecord) -> str:
    where = f"#{job.position}" if job.position else f"{job.progress}%"
    prompt = shown_prompt(job.spec.prompt[:60])
    return f"`{job.id}` {job.status.value} {where} <@{job.user_id}> {job.kind.value}: {prompt}"


def admin_cancelled(job_id: str, outcome: CancelOutcome) -> str:
    return f"✅ Job `{job_id}` {CANCELLED[outcome]}"


def admin_paused(*, here: bool = False) -> str:
    if here:
        return "⏸️ New jobs from this server are refused until /admin resume; queued ones still run."
    return "⏸️ The queue is paused: no new jobs are accepted until /admin resume; queued ones still run."


def admin_resumed(*, here: bool = False) -> str:
    return "▶️ This server's jobs are accepted again." if here else "▶️ The queue is running again."
