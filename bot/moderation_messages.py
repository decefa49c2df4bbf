"""What moderation says on Discord: refused prompts, timeouts, /cancel and the Cancel button, /admin words
and /admin audit. Times are shown with Discord's timestamp markup, so each reader sees their own clock."""

from __future__ import annotations

from datetime import datetime

import discord

from db.moderation import AuditEntry, StrikeOutcome, Timeout
from db.records import CancelOutcome
from imaginebot.core.config import ModerationSettings

CANCEL_LABEL = "Cancel"
AUDIT_SHOWN = 20


def _when(at: datetime) -> str:
    """`<t:…:f>` (a date and time in the reader's zone) and `<t:…:R>` ("in 59 minutes")."""
    stamp = int(at.timestamp())
    return f"<t:{stamp}:f> (<t:{stamp}:R>)"


def _word(word: str) -> str:
    return discord.utils.escape_markdown(discord.utils.escape_mentions(word))


# ----------------------------------------------------------------------------------- refused prompts


def prompt_refused(word: str, outcome: StrikeOutcome, rules: ModerationSettings) -> str:
    """A prompt with a banned word: the rule, that nothing was charged, and what the strike led to."""
    where = " on this server" if outcome.guild_id is not None else ""
    head = (
        f"⛔ Your prompt was refused: it contains the banned word **{_word(word)}**{where}. "
        "Nothing was queued or charged."
    )
    if outcome.banned:
        return (
            f"{head}\nThat was strike {outcome.strikes}: you are now banned from generating images"
            f"{where}. A server manager or the bot's admins can lift the ban."
        )
    if outcome.timeout_until is not None:
        return (
            f"{head}\nThat was strike {outcome.strikes}: you cannot submit new jobs{where} until "
            f"{_when(outcome.timeout_until)}. At {rules.strikes_to_ban} strikes you will be banned."
        )
    return (
        f"{head}\nStrike {outcome.strikes} of {rules.strikes_to_timeout}: then you cannot submit new "
        f"jobs for {rules.timeout_minutes} minutes."
    )


def timed_out(timeout: Timeout) -> str:
    where = " on this server" if timeout.guild_id is not None else ""
    return (
        f"⏳ You are in a timeout{where} for prompts with banned words: you cannot submit new jobs until "
        f"{_when(timeout.until)}. Nothing was queued or charged."
    )


# -------------------------------------------------------------------------------------- cancelling


def cancelled(job_id: str, outcome: CancelOutcome) -> str:
    if outcome is CancelOutcome.REFUNDED:
        return f"✅ Job `{job_id}` cancelled before it started; your quota for it was refunded."
    if outcome is CancelOutcome.STOPPING:
        return f"✅ Job `{job_id}` cancelled: it stops within a second or two, and its quota was refunded."
    return f"Job `{job_id}` had already finished; there was nothing to cancel."


def not_yours() -> str:
    return "⛔ You can only cancel your own jobs (server managers and the bot's admins can cancel any)."


def no_such_job(job_id: str) -> str:
    return f"⚠️ There is no job with id `{discord.utils.escape_markdown(job_id[:40])}`. /info lists yours."


def nothing_to_cancel() -> str:
    return "You have no queued or running job to cancel."


# ------------------------------------------------------------------------------------- /admin words


def word_added(word: str, added: bool, *, here: bool) -> str:
    where = "on this server" if here else "everywhere"
    if not added:
        return f"**{_word(word)}** was already banned {where}; nothing changed."
    return f"✅ **{_word(word)}** is now refused in prompts {where}."


def word_removed(word: str, removed: bool, *, here: bool) -> str:
    where = "this server's list" if here else "the global list"
    if not removed:
        return f"**{_word(word)}** is not on {where}; nothing changed."
    return f"✅ **{_word(word)}** removed from {where}."


def bad_word(reason: str) -> str:
    return f"⚠️ That word cannot be banned: {reason}."


def word_list(words: list[str], configured: list[str], *, here: bool) -> str:
    if here:
        head = "**Banned on this server:** "
        body = ", ".join(_word(w) for w in words) or "none yet (add with /admin words add)"
        return head + body
    added = ", ".join(_word(w) for w in words) or "none"
    config = ", ".join(_word(w) for w in configured) or "none"
    return f"**Banned everywhere:** {added}\n**From the configuration (moderation.banned_words):** {config}"


# ------------------------------------------------------------------------------------- /admin audit


def audit(entries: list[AuditEntry], total: int, *, member: int | None) -> str:
    whose = f" concerning <@{member}>" if member is not None else ""
    if not entries:
        return f"The audit log has no entries{whose}."
    lines = [f"**Audit log{whose}** (newest first, {len(entries)} of {total}):"]
    lines += [_audit_line(e) for e in entries]
    return "\n".join(lines)


def _audit_line(e: AuditEntry) -> str:
    actor = e.actor
    if actor.startswith("discord:"):
        actor = f"<@{actor.removeprefix('discord:')}>"
    about = f"<@{e.user_id}>" if e.user_id is not None else f"`{_word(e.target)}`"
    if e.action == "cancel":
        about = f"job `{_word(e.target)}`" + (f" of <@{e.user_id}>" if e.user_id is not None else "")
    detail = f" — {_word(e.detail)}" if e.detail else ""
    where = " (this server)" if e.guild_id is not None else ""
    return f"<t:{int(e.at.timestamp())}:f> {actor} **{e.action}** {about}{detail}{where}"
