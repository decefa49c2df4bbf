"""What /prefer and /show say to a person (their other sentences are bot.messages')."""

from __future__ import annotations

from collections.abc import Mapping

from bot.messages import more_lines
from imaginebot.core.preferences import (
    NAME_MAX,
    BadOptionName,
    BadValue,
    OptionLoop,
    PreferenceError,
    ShadowsParameter,
    TooLong,
    TooManyOptions,
    UnknownOption,
)
from imaginebot.core.prompt_prefer import loop_text

NOTHING_CHANGED = " Nothing was changed."
VALUE_SHOWN = 120  # characters of an option's value in /prefer option list
LIST_LIMIT = 1900  # characters of the list message (Discord allows 2000)


def _code(text: str) -> str:
    """Text a person typed, shown verbatim in inline code (backticks cannot end it early)."""
    return "`" + text.replace("`", "ˋ") + "`"


def _short(text: str, limit: int = VALUE_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _what(name: str | None) -> str:
    return "the suffix" if name is None else f"--{name}"


def refused(err: PreferenceError) -> str:
    """Why a /prefer change was turned down, and what to do instead."""
    if isinstance(err, BadOptionName):
        text = (f"{_code(err.name)} cannot be an option name: use a letter, then letters, digits or dashes, "
                f"at most {NAME_MAX} characters (like `wide` for `--wide`).")
    elif isinstance(err, ShadowsParameter):
        real = "" if err.parameter == err.name else f" (`--{err.parameter}`)"
        text = (f"`--{err.name}` is already a parameter of the prompt language{real}, so an option of that "
                f"name would hide it: pick another name, like `my-{err.name}`.")
    elif isinstance(err, OptionLoop):
        text = (f"Options that expand into each other never end: {_code(loop_text(err.loop))}. "
                "Make one of them use something else.")
    elif isinstance(err, BadValue):
        what = "Your suffix" if err.name is None else f"`--{err.name}`'s value"
        text = f"{what} {_code(_short(err.value))} is refused: {err.reason}."
    elif isinstance(err, TooLong):
        text = (f"{_what(err.name).capitalize()} is {err.length} characters long: at most {err.limit} "
                "(the length of a prompt) are allowed.")
    elif isinstance(err, TooManyOptions):
        text = (f"You already have {err.limit} custom options, the most there can be: delete one first "
                "with `/prefer option delete`.")
    elif isinstance(err, UnknownOption):
        name = _code("--" + err.name.removeprefix("--"))
        text = f"You have no custom option {name}; see `/prefer option list`."
    else:
        text = "That preference cannot be saved."
    return f"⚠️ {text}{NOTHING_CHANGED}"


def option_saved(name: str, value: str) -> str:
    return (f"✅ Saved: `--{name}` now stands for {_code(_short(value))} in your prompts "
            f"(e.g. `/imagine prompt:a red fox --{name}`).")


def option_deleted(name: str) -> str:
    return f"✅ Deleted your custom option `--{name}`."


def options_list(options: Mapping[str, str]) -> str:
    """/prefer option list: one line an option, by name."""
    if not options:
        return ("You have no custom options. Make one with `/prefer option set`, e.g. name `wide` and value "
                "`--ar 21:9 --s 250`, then use `--wide` in a prompt.")
    lines = [f"**Your custom options** ({len(options)})"]
    names = sorted(options)
    for n, name in enumerate(names):
        line = f"• `--{name}` → {_code(_short(options[name]))}"
        if sum(len(x) + 1 for x in lines) + len(line) > LIST_LIMIT - 20:
            lines.append(more_lines(len(names) - n))
            break
        lines.append(line)
    return "\n".join(lines)


def suffix_saved(suffix: str) -> str:
    return f"✅ Saved: {_code(_short(suffix, 300))} is now appended to every prompt of yours."


def suffix_cleared(had: bool) -> str:
    return "✅ Your suffix is cleared." if had else "You have no suffix; nothing to clear."


# ---------------------------------------------------------------------------------------------- /show


def show_unknown(job_id: str) -> str:
    return (f"⚠️ There is no job {_code(_short(job_id, 40))} to show (check the id: /info lists yours, "
            "and it is in the file name of every result).")


def show_not_yours(job_id: str) -> str:
    return (f"⚠️ Job {_code(job_id)} is someone else's: you can show only your own jobs (server managers: "
            "any job made on their server).")


def show_not_finished(job_id: str, status: str) -> str:
    return f"⚠️ Job {_code(job_id)} is {status}, not finished: once it has its images, /show it again."


def show_failed(job_id: str, status: str) -> str:
    return f"⚠️ Job {_code(job_id)} {status} without images, so there is nothing to show."


def show_elsewhere() -> str:
    return "-# Made elsewhere (another server, a DM or the command line): its buttons work only there."


def show_pruned(job_id: str, keep_days: int) -> str:
    return (f"⚠️ The images of job {_code(job_id)} were deleted after {keep_days} days (storage.keep_days), "
            "so there is nothing to show. Its prompt is kept: use /imagine again.")


def show_posted(job_id: str) -> str:
    return f"✅ Job {_code(job_id)} is posted in this channel again."


def unknown_style(typed: str, known: list[str]) -> str:
    """/settings style: a name that is no `[styles.NAME]` of this bot."""
    have = f"use one of {', '.join(known)}, or none" if known else "this bot defines none ([styles.NAME])"
    return f"style: {_code(_short(typed))} is not a style of this bot: {have}"
