"""Every sentence the bot says to a person, in one place. No traceback or internal detail ever goes here."""

from __future__ import annotations

from datetime import datetime


def _ts(when: datetime) -> str:
    return f"<t:{int(when.timestamp())}:R>"


def queued(prompt: str, position: int | None) -> str:
    where = f"position {position}" if position else "starting soon"
    return f"**{prompt}** — Queued ({where})"


def progress(prompt: str, percent: int) -> str:
    return f"**{prompt}** — {percent}%"


def result_grid(prompt: str, user_id: int, seed: int, label: str = "") -> str:
    extra = f" {label}" if label else ""
    return f"**{prompt}** —{extra} <@{user_id}> (seed {seed})"


def result_upscale(prompt: str, user_id: int, index: int) -> str:
    return f"**{prompt}** — Image #{index} <@{user_id}>"


def failed(prompt: str, reason: str) -> str:
    return f"**{prompt}** — ❌ {reason} Your quota was refunded; try again in a moment."


def cancelled(prompt: str) -> str:
    return f"**{prompt}** — cancelled."


def prompt_error(message: str) -> str:
    return f"⚠️ {message}"


def unknown_button() -> str:
    return "⚠️ That button belongs to a job this bot doesn't know (it may have been deleted). Use /imagine again."


def button_not_ready() -> str:
    return "⚠️ That image isn't finished yet; wait for the grid, then press the button again."


def wrong_guild() -> str:
    return "⚠️ That button belongs to another server."


def internal_error() -> str:
    return "⚠️ Something went wrong on our side; nothing was charged. Please try again in a moment."


def not_admin() -> str:
    return "⛔ Only server managers and the bot's admins can use /admin."


def quota_line(used: int, limit: int, resets_at: datetime) -> str:
    return f"**Quota:** {used} of {limit} jobs used today, {max(0, limit - used)} left (resets {_ts(resets_at)})"


def settings_saved(summary: str) -> str:
    return f"✅ Saved. Your defaults: {summary}"


def settings_show(summary: str) -> str:
    return f"Your defaults: {summary}\nChange them with `/settings`, e.g. `/settings aspect_ratio:3:2 stylize:250`."


def settings_summary(values: dict[str, object]) -> str:
    if not values:
        return "none (the server's defaults apply)"
    names = {"aspect_ratio": "--ar", "stylize": "--stylize", "quality": "--quality", "chaos": "--chaos",
             "stop": "--stop", "tile": "--tile"}
    parts = []
    for key, value in values.items():
        flag = names.get(key, key)
        parts.append(flag if value is True else f"{flag} {value}")
    return "`" + " ".join(parts) + "`"
