"""What the bot says about speed modes and Fast GPU time (/fast, /relax, /turbo, /info, refusals)."""

from __future__ import annotations

from db.errors import FastTimeUsedUp, QueueRefusal, RelaxDisabled
from db.records import JobRecord, QuotaInfo
from imaginebot.core.gpu_time import FAST, RELAX, TURBO, minutes

MODE_NAMES = {FAST: "Fast", RELAX: "Relax", TURBO: "Turbo"}


def mode_set(mode: str, info: QuotaInfo, turbo_factor: float, relax_enabled: bool) -> str:
    """The answer to /fast, /relax or /turbo."""
    name = MODE_NAMES[mode]
    if mode == TURBO:
        what = (f"your jobs go to the front of the queue and cost {turbo_factor:g}× their GPU time in Fast "
                "time")
    elif mode == RELAX:
        what = "your jobs cost no Fast time and run when no Fast or Turbo work is waiting"
    else:
        what = "your jobs run in turn with everyone's and cost their GPU time in Fast time"
    off = " (Relax mode is off on this bot, so they will be refused)"
    note = "" if relax_enabled or mode != RELAX else off
    return (f"⚡ **{name} mode** is now your default: {what}{note}. A prompt's `--fast`, `--relax` or "
            f"`--turbo` still chooses for that prompt.\n{fast_time(info)}")


def job_mode(mode: str) -> str:
    return f"**Job mode:** {MODE_NAMES[mode]} (`/fast`, `/relax`, `/turbo` change it)"


def fast_time(info: QuotaInfo) -> str:
    """One line on the caller's Fast GPU time today."""
    used = minutes(info.fast_used_seconds)
    if info.fast_limit_seconds <= 0:
        return f"**Fast time today:** {used} used (no daily limit)"
    left = minutes(info.fast_left_seconds or 0.0)
    return (f"**Fast time today:** {used} of {minutes(info.fast_limit_seconds)} used, {left} left "
            f"(resets {info.resets_at:%H:%M} UTC)")


def queued_note(job: JobRecord) -> str:
    """A line under a queued message for a Relax or Turbo job (and why, when used-up Fast time sent it)."""
    if job.mode == RELAX and job.spec.mode != RELAX:
        return ("\n-# 🐢 Your Fast time for today is used up, so this job was queued in **Relax** mode: it "
                "costs no Fast time and starts when no Fast work is waiting.")
    if job.mode == RELAX:
        return "\n-# 🐢 Relax mode: starts when no Fast work is waiting; costs no Fast time."
    if job.mode == TURBO:
        return "\n-# ⚡ Turbo mode: goes first; costs more Fast time."
    return ""


def refusal(err: QueueRefusal) -> str | None:
    if isinstance(err, FastTimeUsedUp):
        return (f"Your Fast GPU time for today is used up ({minutes(err.used)} of {minutes(err.limit)}; this "
                f"request needs about {minutes(err.requested)}), and Relax mode is off on this bot. It "
                f"resets at {err.resets_at:%Y-%m-%d %H:%M} UTC.")
    if isinstance(err, RelaxDisabled):
        return "Relax mode is off on this bot. Use `--fast` or `--turbo`, or `/fast` to change your default."
    return None
