"""Every message the prompt parser shows a person, in one place so the bot and the CLI word them alike.

Each message is one sentence that names the parameter, the value given and what is allowed, e.g.
`--chaos 150 is out of range: use a whole number from 0 to 100`.
"""

from __future__ import annotations

from dataclasses import dataclass

SEED_MAX_TEXT = "4294967295"


class PromptError(ValueError):
    """A prompt the parser cannot accept; `str(err)` is the one-sentence message for a person."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of the prompt language: its canonical name, aliases and what it takes."""

    name: str
    aliases: tuple[str, ...] = ()
    flag: bool = False


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("ar", ("aspect",)),
    Parameter("seed"),
    Parameter("no"),
    Parameter("chaos", ("c",)),
    Parameter("stylize", ("s",)),
    Parameter("quality", ("q",)),
    Parameter("stop"),
    Parameter("tile", flag=True),
    Parameter("repeat", ("r",)),
    Parameter("model"),
    Parameter("niji", flag=True),
    Parameter("draft", flag=True),
)

# Parameters that take no value.
FLAGS: frozenset[str] = frozenset(p.name for p in PARAMETERS if p.flag)

# Every accepted spelling (lower case, without the dashes) -> its canonical name.
NAMES: dict[str, str] = {alias: p.name for p in PARAMETERS for alias in (p.name, *p.aliases)}

# Whole-number parameters: canonical name -> (low, high). `repeat`'s high end comes from the limits.
INT_RANGES: dict[str, tuple[int, int]] = {
    "seed": (0, 4_294_967_295),
    "chaos": (0, 100),
    "stylize": (0, 1000),
    "stop": (10, 100),
}

AR_ALLOWED = "two whole numbers from 1:4 to 4:1, like --ar 16:9"
QUALITY_ALLOWED = ".25, .5 or 1"
NO_ALLOWED = "a comma-separated list of things to leave out, like --no text, people"
MODEL_ALLOWED = "the name or alias of a model"
LORA_WEIGHT_MIN = -2
LORA_WEIGHT_MAX = 2
LORA_ALLOWED = "<lora:NAME> or <lora:NAME:W> with a lora weight W from -2 to 2"


def whole_allowed(low: int, high: int) -> str:
    return f"a whole number from {low} to {high}"


def allowed(name: str, max_repeat: int) -> str:
    """What parameter `name` (canonical) accepts, as a phrase: `a whole number from 0 to 100`."""
    if name == "ar":
        return AR_ALLOWED
    if name == "quality":
        return QUALITY_ALLOWED
    if name == "no":
        return NO_ALLOWED
    if name == "model":
        return MODEL_ALLOWED
    if name == "repeat":
        return whole_allowed(1, max_repeat)
    low, high = INT_RANGES[name]
    return whole_allowed(low, high)


def known_parameters() -> str:
    names = [f"--{p.name}" for p in PARAMETERS]
    return ", ".join(names[:-1]) + " or " + names[-1]


# --- the messages -------------------------------------------------------------------------------

# What a person typed is quoted back up to this many characters, so a message always fits in a reply.
SHOWN_MAX = 60


def shown(text: str) -> str:
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


def unknown_parameter(typed: str) -> str:
    return f"{shown(typed)} is not a known parameter: use {known_parameters()}"


def given_twice(name: str) -> str:
    return f"--{name} is given twice"


def needs_value(typed: str, name: str, max_repeat: int) -> str:
    return f"{typed} needs a value: {allowed(name, max_repeat)}"


def takes_no_value(typed: str) -> str:
    return f"{typed} takes no value"


def not_valid(typed: str, value: str, name: str, max_repeat: int) -> str:
    if name == "ar":
        return f"{typed} {shown(value)} is not a valid aspect ratio: use {AR_ALLOWED}"
    return f"{typed} {shown(value)} is not valid: use {allowed(name, max_repeat)}"


def out_of_range(typed: str, value: str, name: str, max_repeat: int) -> str:
    return f"{typed} {shown(value)} is out of range: use {allowed(name, max_repeat)}"


def no_text() -> str:
    return "the prompt has no text: describe the image before any parameters"


def too_many_expansions(count: int | None, cap: int) -> str:
    """`count` None means more than can be counted sensibly (see prompt_expand.COUNT_CEILING)."""
    amount = f"{count}" if count is not None else "over a million"
    return f"the prompt expands to {amount} jobs, more than the {cap} allowed: use fewer {{…}} options"


def unbalanced_braces() -> str:
    return "unbalanced { } in the prompt: close every { with }"


def weight_without_text(weight: str) -> str:
    return f"::{shown(weight)} has no text before it"


def weight_too_large(weight: str) -> str:
    return f"::{shown(weight)} is too large a weight: use a number like 2 or -0.5"


def weights_not_positive(total: str) -> str:
    return f"the :: weights add up to {total}; their sum must be positive"


# --- models and LoRAs ---------------------------------------------------------------------------


def unknown_model(typed: str, value: str, known: str) -> str:
    return f"{typed} {shown(value)} is not a known model: use one of {known}"


def no_niji_model(known: str) -> str:
    return f"--niji needs a model with the alias niji and there is none: use --model with one of {known}"


def model_chosen_twice() -> str:
    return "--model and --niji both choose the model: use one of them"


def no_draft_profile(model: str) -> str:
    return f"--draft is not available for model {shown(model)}: it has no draft profile, leave out --draft"


def not_supported(parameter: str, model: str, family: str) -> str:
    """A parameter the model's family cannot honour, e.g. `--no` on FLUX.1."""
    return f"model {shown(model)} ({family}) does not support {parameter}: leave out {parameter}"


def lora_not_valid(tag: str) -> str:
    return f"{shown(tag)} is not a valid lora tag: use {LORA_ALLOWED}"


def lora_out_of_range(tag: str) -> str:
    return f"{shown(tag)} is out of range: use a lora weight from -2 to 2, like <lora:NAME:0.8>"


def unknown_lora(name: str, known: str) -> str:
    names = f"NAME one of {known}" if known != "none" else "NAME a file in the loras folder (there is none)"
    return f"<lora:{shown(name)}> is not a known lora: use <lora:NAME:W> with {names} and W from -2 to 2"


def lora_twice(name: str) -> str:
    return f"<lora:{shown(name)}> is given twice with different weights: use one lora weight from -2 to 2"


def too_many_loras(count: int, cap: int) -> str:
    if cap == 0:
        return "loras are turned off on this bot: remove the <lora:NAME:W> tags"
    return (
        f"the prompt uses {count} different loras, more than the {cap} allowed: use at most {cap} "
        f"<lora:NAME:W> tags (W from -2 to 2)"
    )
