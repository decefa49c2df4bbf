"""Every sentence the bot says to a person, in one place. No traceback or internal detail ever goes here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bot import mode_messages
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
from db.records import JobRecord
from imaginebot.core.domain import Failure, JobKind, JobStatus
from imaginebot.core.edits import EditAction, EditPlan

PROMPT_SHOWN = 300  # characters of a prompt quoted back (a message holds at most 2000)
KIND_LABEL = {JobKind.IMAGINE: "", JobKind.REROLL: "Re-roll", JobKind.VARIATION: "Variations",
              JobKind.UPSCALE: "Upscale", JobKind.UPSCALE_SUBTLE: "Upscale (Subtle)",
              JobKind.UPSCALE_CREATIVE: "Upscale (Creative)", JobKind.VARY_REGION: "Vary (Region)",
              JobKind.ZOOM_OUT: "Zoom Out", JobKind.PAN: "Pan", JobKind.MAKE_SQUARE: "Make Square"}
PAN_ARROWS = {EditAction.PAN_LEFT: "⬅️", EditAction.PAN_RIGHT: "➡️", EditAction.PAN_UP: "⬆️",
              EditAction.PAN_DOWN: "⬇️"}


def shown_prompt(prompt: str) -> str:
    """A prompt as shown in a message: shortened, its markdown shown as typed, and no mention in it
    that could ping (`@everyone`, `<@id>`, `<@&role>` get a zero-width space after the `@`)."""
    return shown(prompt if len(prompt) <= PROMPT_SHOWN else prompt[: PROMPT_SHOWN - 1] + "…")


def shown(text: str) -> str:
    """Text typed by a person (a prompt, a file name): its markdown shown as typed, no mention pings."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def _ts(when: datetime) -> str:
    return f"<t:{int(when.timestamp())}:R>"


def what(kind: JobKind, edit: EditPlan | None = None) -> str:
    """What a job is, as its messages name it: "Variations", "Zoom Out 1.5x", "Pan ⬅️" ("" for /imagine)."""
    if kind is JobKind.ZOOM_OUT and edit is not None and edit.zoom is not None:
        return f"Zoom Out {edit.zoom:g}x"
    if kind is JobKind.PAN and edit is not None and edit.action in PAN_ARROWS:
        return f"Pan {PAN_ARROWS[edit.action]}"
    return KIND_LABEL.get(kind, "")


def _kind(kind: JobKind, edit: EditPlan | None = None) -> str:
    label = what(kind, edit)
    return f" ({label})" if label else ""


def queued(
    prompt: str, user_id: int, position: int | None, kind: JobKind = JobKind.IMAGINE,
    edit: EditPlan | None = None, notes: Sequence[str] = (),
) -> str:
    """The public "Queued" message, with up to 4 of the prompt's notes (JobSpec.notes) under it."""
    where = f"Queued — position {position}" if position else "Starting…"
    lines = [f"\n-# ℹ️ {shown(n)}" for n in notes[:4]]
    if len(notes) > 4:
        lines.append(f"\n-# ℹ️ …{len(notes) - 4} more")
    return f"**{shown_prompt(prompt)}**{_kind(kind, edit)} — <@{user_id}> {where}{''.join(lines)}"


def queued_private(jobs: int, position: int | None) -> str:
    what = "Your job is" if jobs == 1 else f"Your {jobs} jobs are"
    where = f"Queued — position {position}" if position else "starting now"
    return f"✅ {what} queued ({where}). Progress and results will appear in this channel."


def progress(
    prompt: str, user_id: int, percent: int, kind: JobKind = JobKind.IMAGINE, edit: EditPlan | None = None
) -> str:
    return f"**{shown_prompt(prompt)}**{_kind(kind, edit)} — <@{user_id}> ({percent}%)"


def result_grid(
    prompt: str, user_id: int, seed: int, kind: JobKind = JobKind.IMAGINE, edit: EditPlan | None = None
) -> str:
    return f"**{shown_prompt(prompt)}**{_kind(kind, edit)} — <@{user_id}> (seed {seed})"


def result_upscale(prompt: str, user_id: int, index: int, kind: JobKind = JobKind.UPSCALE) -> str:
    """U<k>'s answer names its image; a second upscale names itself ("Upscale (Subtle)")."""
    shown = f"Image #{index}" if kind is JobKind.UPSCALE else what(kind)
    return f"**{shown_prompt(prompt)}** — {shown} <@{user_id}>"


def _images(indexes: Sequence[int], total: int) -> str:
    if total == 1:
        return "this image"
    if len(indexes) == total:
        return f"all {total} images"
    numbers = [str(i) for i in indexes]
    listed = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]
    return f"image{'s' if len(numbers) > 1 else ''} {listed}"


def spoilered_note(flagged: Sequence[int], total: int) -> str:
    """Under a result posted as a spoiler (image moderation flagged some of its images)."""
    return f"\n-# ⚠️ Image moderation flagged {_images(flagged, total)}: shown as a spoiler."


def withheld_note(withheld: Sequence[int], total: int) -> str:
    """Under (or instead of) a result whose flagged images were withheld (`nsfw_action = "block"`)."""
    what = _images(withheld, total)
    return f"\n🚫 {what[0].upper() + what[1:]} withheld by image moderation."


def queued_by_dm(jobs: int, position: int | None) -> str:
    """The private answer to a request of a user in private mode (/settings private)."""
    what = "Your job is" if jobs == 1 else f"Your {jobs} jobs are"
    where = f"position {position}" if position else "starting now"
    return f"🔒 {what} queued ({where}). Private mode: progress and results come by DM."


def dms_closed() -> str:
    return ("🔒 I cannot send you direct messages, so this result is shown only to you, here. Allow direct "
            "messages from this server's members, or turn private mode off with `/settings private:False`.")


def refusal(err: QueueRefusal) -> str:
    """Why the queue turned a request down (nothing was queued or charged), and what to do."""
    if (about_modes := mode_messages.refusal(err)) is not None:
        return about_modes
    here = " on this server" if err.guild_id is not None else ""
    if isinstance(err, Banned):
        because = f" (reason: {err.reason})" if err.reason else ""
        return (f"You are banned from generating images{here}{because}. "
                "Ask a server admin if you think this is a mistake.")
    if isinstance(err, QuotaExceeded):
        left = max(0, err.limit - err.used)
        needs = "" if err.requested == 1 else f"; this request needs {err.requested} and you have {left} left"
        return (f"You have used {err.used} of your {err.limit} jobs for today{here}{needs}. "
                f"Your quota resets at {err.resets_at:%Y-%m-%d %H:%M} UTC — try again then.")
    if isinstance(err, QueueFull):
        adds = "" if err.requested == 1 else f"; this request adds {err.requested}"
        return (f"You already have {err.queued} job{'s' if err.queued != 1 else ''} waiting "
                f"(at most {err.limit} at once{adds}). Wait until some of them start, then try again.")
    if isinstance(err, QueuePaused) and here:
        return ("This server's moderators paused image generation here, so no new jobs are accepted. "
                "Try again later.")
    if isinstance(err, QueuePaused):
        return "The queue is paused by an admin, so no new jobs are accepted. Try again later."
    if isinstance(err, SourceImageMissing):
        return (f"Image {err.index} of job {err.job_id} is not available (the job did not finish, or it has "
                "no such image). Use the buttons of a finished result.")
    return "The queue turned this request down. Try again later."


def image_pruned(keep_days: int) -> str:
    """A button of a job whose images the retention (storage.keep_days) deleted."""
    return (f"This image was deleted after {keep_days} days (storage.keep_days), so it cannot be upscaled, "
            "varied or edited any more. The job's prompt and parameters are kept: use /imagine again.")


def not_found(err: NotFound) -> str:
    """An admin named a job or a user the database does not know."""
    if isinstance(err, JobNotFound):
        return f"no job with id {err.job_id!r}"
    if isinstance(err, UserNotFound):
        return f"unknown user {err.user_id}: they have never used the bot"
    return "not found"


REFUNDED = " Your quota for it was refunded."


def failure(reason: Failure | None, detail: str | None) -> str:
    """Why a job ended without images, from its `failure` code and `error` detail: the sentence for a job
    that ended so (failed, or cancelled by a ban). Rows from before the codes (reason None) carry their
    sentence in `detail`."""
    if reason is Failure.ENGINE_FAILED:
        return f"The image generator failed: {(detail or '').rstrip('.') or 'unknown error'}." + REFUNDED
    if reason is Failure.ENGINE_ERROR:
        return "The image generator hit an unexpected error." + REFUNDED
    if reason is Failure.NO_IMAGES:
        return "The image generator returned no images." + REFUNDED
    if reason is Failure.WORKER_LOST:
        return (f"The worker generating this job stopped responding, {detail or 'several'} times; "
                "the job was given up." + REFUNDED)
    if reason is Failure.BANNED:
        return "Cancelled: you were banned from generating images."
    if reason is Failure.OUT_OF_MEMORY:
        size = f" ({detail})" if detail else ""
        return (f"The image{size} is too large for the GPU's memory, even on its own. "
                "Try a smaller --ar, or ask an admin to lower queue.max_batch." + REFUNDED)
    if reason is Failure.BAD_INPUT:
        what = f": {detail.rstrip('.')}" if detail else ""
        return (f"The image generator cannot use this job's input{what}. "
                "Change the prompt or its parameters and try again." + REFUNDED)
    if reason is Failure.NO_WORKER:
        model = f" ({detail})" if detail else ""
        return (f"No worker serves this job's model{model} any more, so it could not run. "
                "Try /imagine again (it uses the current model)." + REFUNDED)
    if reason is Failure.DEVICE_ERROR:
        what = f" ({detail.rstrip('.')})" if detail else ""
        return f"The GPU failed on every try{what}; an admin has the details in the log." + REFUNDED
    return detail or "The job failed."


def failed(prompt: str, reason: str) -> str:
    return f"**{shown_prompt(prompt)}** — ❌ {reason} Try again in a moment."


def cancelled(prompt: str) -> str:
    return f"**{shown_prompt(prompt)}** — cancelled."


def refused(message: str) -> str:
    return f"⚠️ {message}"


def unknown_button() -> str:
    return ("⚠️ That button doesn't belong to an image this bot knows (it may be old or deleted). "
            "Use /imagine again.")


def button_not_ready() -> str:
    return "⚠️ That image isn't finished yet; wait for the result, then press the button again."


def wrong_guild() -> str:
    return "⚠️ That button belongs to an image made elsewhere (another server, a DM or the command line)."


# ---------------------------------------------------------------------------------------------- edits

NOTHING_CHARGED = " Nothing was queued or charged."
# How the edit arguments of imaginebot.core.edits (named for the command line) read on Discord.
EDIT_ARGUMENTS = {"--zoom": "Zoom", "--region": "Vary (Region)", "region": "Vary (Region)",
                  "upscale-subtle": "Upscale (Subtle)", "upscale-creative": "Upscale (Creative)",
                  "make-square": "Make Square", "pan-left": "Pan ⬅️", "pan-right": "Pan ➡️",
                  "pan-up": "Pan ⬆️", "pan-down": "Pan ⬇️"}
REMIX_TITLE = "Remix"
ZOOM_TITLE = "Custom Zoom"
REGION_TITLE = "Vary (Region)"
PROMPT_FIELD = "Prompt"
ZOOM_FIELD = "Zoom (1.0–2.0)"


def edit_refused(argument: str, message: str) -> str:
    """An edit that cannot be made (an EditError): the argument to change, and why."""
    return f"⚠️ {EDIT_ARGUMENTS.get(argument, argument)}: {message}.{NOTHING_CHARGED}"


def bad_zoom(typed: str) -> str:
    return f"⚠️ Zoom: {typed.strip()[:20]!r} is not a number: use a number from 1.0 to 2.0.{NOTHING_CHARGED}"


def region_picker(chosen: int) -> str:
    count = f"{chosen} of 9 parts chosen" if chosen else "nothing chosen yet"
    return (f"**Vary (Region)** — press the parts of the image to regenerate ({count}), then **Submit**. "
            "Everything else stays as it is.")


def region_empty() -> str:
    return "⚠️ Choose at least one part of the image to regenerate first, then press Submit." + NOTHING_CHARGED


def region_cancelled() -> str:
    return "Vary (Region) cancelled; nothing was queued or charged."


def busy() -> str:
    return "⚠️ The bot is busy right now; press the button again in a moment." + NOTHING_CHARGED


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
    return f"• `{job_id}` {shown_prompt(prompt[:80])} — {state}"


def settings_saved(summary: str) -> str:
    return f"✅ Saved. Your defaults: {summary}"


def settings_show(summary: str) -> str:
    return (f"Your defaults: {summary}\n"
            "Change them with `/settings`, e.g. `/settings aspect_ratio:3:2 stylize:250`.")


def settings_summary(values: dict[str, object]) -> str:
    if not values:
        return "none (the server's defaults apply)"
    names = {"aspect_ratio": "--ar", "stylize": "--stylize", "quality": "--quality", "chaos": "--chaos",
             "stop": "--stop", "tile": "--tile", "model": "--model"}
    parts = []
    for key, value in values.items():
        flag = names.get(key, key)
        if key in ("remix", "private", "suffix", "options", "style"):  # shown below
            continue
        if key == "mode":
            parts.append(f"--{value}")
            continue
        if value is True:
            parts.append(flag)
        elif value is not False:
            parts.append(f"{flag} {value}")
    shown = ["`" + " ".join(parts) + "`"] if parts else []
    if "remix" in values:
        shown.append("Remix mode " + ("on" if values["remix"] else "off"))
    if "private" in values:
        shown.append("Private mode " + ("on: results by DM" if values["private"] else "off"))
    if values.get("style"):
        shown.append(f"personal style **{values['style']}** (a bare `--p`)")
    if values.get("suffix"):
        suffix = str(values["suffix"]).replace("`", "ˋ")
        shown.append(f"suffix `{suffix if len(suffix) <= 100 else suffix[:99] + '…'}` (`/prefer suffix`)")
    if isinstance(options := values.get("options"), dict) and options:
        count = f"{len(options)} custom option{'s' if len(options) != 1 else ''}"
        shown.append(f"{count} (`/prefer option list`)")
    return " · ".join(shown) if shown else "none (the server's defaults apply)"


# ------------------------------------------------------------------------------------------- /models

MAX_MODEL_LINES = 25


ModelLine = tuple[str, Sequence[str], str, str, bool]  # name, aliases, family, description, is default


def models_list(models: list[ModelLine], loras: list[str], embeddings: list[str]) -> str:
    """/models: one line a model (name, aliases, family, description; the default marked), then the LoRAs
    (`<lora:NAME:W>`) and embeddings (words) by name. Names are escaped: files are named by operators."""
    lines = ["**Models** (`--model NAME`; `/settings model:` sets your default)"]
    for name, aliases, family, description, default in models[:MAX_MODEL_LINES]:
        line = f"• **{shown(name)}**"
        if aliases:
            line += " (" + ", ".join(f"`--{a}`" if a == "niji" else shown(a) for a in aliases) + ")"
        line += f" — {shown(family)}"
        if description:
            line += f" — {shown(description)}"
        if default:
            line += " — *default*"
        lines.append(line)
    if len(models) > MAX_MODEL_LINES:
        lines.append(more_lines(len(models) - MAX_MODEL_LINES))
    shown_loras = ", ".join(shown(n) for n in loras) or "none"
    lines.append(f"**LoRAs** (`<lora:NAME:W>`, W from -2 to 2): {shown_loras}")
    if embeddings:
        lines.append("**Embeddings** (use the word in a prompt): " + ", ".join(shown(n) for n in embeddings))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- /info


def info_counts(queued: int, running: int) -> str:
    return f"**Queued:** {queued}   **Running:** {running}"


def job_state(job: JobRecord) -> str:
    if job.status is JobStatus.RUNNING:
        return f"running, {job.progress}%"
    return f"queued, position {job.position}" if job.position else "queued"


def gpu_today_line(seconds: float) -> str:
    return f"**GPU time today:** {seconds:.2f} s"


def more_lines(n: int) -> str:
    return f"… and {n} more"
