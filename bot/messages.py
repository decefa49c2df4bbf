"""Every sentence the bot says to a person, in one place. No traceback or internal detail ever goes here."""

from __future__ import annotations

from datetime import datetime

from imaginebot.core.domain import JobKind

PROMPT_SHOWN = 300  # characters of a prompt quoted back (a message holds at most 2000)
KIND_LABEL = {JobKind.IMAGINE: "", JobKind.REROLL: "Re-roll", JobKind.VARIATION: "Variations",
              JobKind.UPSCALE: "Upscale"}


def _p(prompt: str) -> str:
    text = prompt if len(prompt) <= PROMPT_SHOWN else prompt[: PROMPT_SHOWN - 1] + "…"
    return text.replace("*", "\\*")


def _ts(when: datetime) -> str:
    return f"<t:{int(when.timestamp())}:R>"


def _kind(kind: JobKind) -> str:
    label = KIND_LABEL.get(kind, "")
    return f" ({label})" if label else ""


def queued(prompt: str, user_id: int, position: int | None, kind: JobKind = JobKind.IMAGINE) -> str:
    where = f"Queued — position {position}" if position else "Starting…"
    return f"**{_p(prompt)}**{_kind(kind)} — <@{user_id}> {where}"


def queued_private(jobs: int, position: int | None) -> str:
    what = "Your job is" if jobs == 1 else f"Your {jobs} jobs are"
    where = f"Queued — position {position}" if position else "starting now"
    return f"✅ {what} queued ({where}). Progress and results will appear in this channel."


def progress(prompt: str, user_id: int, percent: int, kind: JobKind = JobKind.IMAGINE) -> str:
    return f"**{_p(prompt)}**{_kind(kind)} — <@{user_id}> ({percent}%)"


def result_grid(prompt: str, user_id: int, seed: int, kind: JobKind = JobKind.IMAGINE) -> str:
    return f"**{_p(prompt)}**{_kind(kind)} — <@{user_id}> (seed {seed})"


def result_upscale(prompt: str, user_id: int, index: int) -> str:
    return f"**{_p(prompt)}** — Image #{index} <@{user_id}>"


def failed(prompt: str, reason: str) -> str:
    return f"**{_p(prompt)}** — ❌ {reason} Try again in a moment."


def cancelled(prompt: str) -> str:
    return f"**{_p(prompt)}** — cancelled."


def refused(message: str) -> str:
    return f"⚠️ {message}"


def unknown_button() -> str:
    return ("⚠️ That button doesn't belong to an image this bot knows (it may be old or deleted). "
            "Use /imagine again.")


def button_not_ready() -> str:
    return "⚠️ That image isn't finished yet; wait for the result, then press the button again."


def wrong_guild() -> str:
    return "⚠️ That button belongs to an image made on another server."


def internal_error() -> str:
    return "⚠️ Something went wrong on our side; nothing was charged. Please try again in a moment."


def not_admin() -> str:
    return "⛔ Only server managers and the bot's admins can use /admin."


def quota_line(used: int, limit: int, resets_at: datetime) -> str:
    left = max(0, limit - used)
    return f"**Quota:** {used} of {limit} jobs used today, {left} left (resets {_ts(resets_at)})"


def banned_line(reason: str | None) -> str:
    return "⛔ You are banned from generating images" + (f": {reason}" if reason else ".")


def job_line(job_id: str, prompt: str, state: str) -> str:
    return f"• `{job_id}` {_p(prompt[:80])} — {state}"


def settings_saved(summary: str) -> str:
    return f"✅ Saved. Your defaults: {summary}"


def settings_show(summary: str) -> str:
    return (f"Your defaults: {summary}\n"
            "Change them with `/settings`, e.g. `/settings aspect_ratio:3:2 stylize:250`.")


def settings_summary(values: dict[str, object]) -> str:
    if not values:
        return "none (the server's defaults apply)"
    names = {"aspect_ratio": "--ar", "stylize": "--stylize", "quality": "--quality", "chaos": "--chaos",
             "stop": "--stop", "tile": "--tile"}
    parts = []
    for key, value in values.items():
        flag = names.get(key, key)
        if value is True:
            parts.append(flag)
        elif value is not False:
            parts.append(f"{flag} {value}")
    return "`" + " ".join(parts) + "`" if parts else "none (the server's defaults apply)"
