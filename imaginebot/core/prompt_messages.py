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
    """One parameter of the prompt language: its canonical name, aliases and what it takes.

    `value`: "required", "none" (a flag) or "optional" (`--niji` or `--niji 6`). `repeatable`: may be
    given more than once (the values are merged). `listed`: named in the unknown-parameter message.
    """

    name: str
    aliases: tuple[str, ...] = ()
    flag: bool = False
    optional: bool = False
    repeatable: bool = False
    listed: bool = True


def _quiet(name: str, *aliases: str, flag: bool = False, optional: bool = False) -> Parameter:
    """A Midjourney parameter that is read (honoured or noted) but not named in the short list. A flag
    of these may be repeated (`--upbeta --upbeta`, which Midjourney took): it means the same."""
    return Parameter(name, aliases, flag=flag, optional=optional, repeatable=flag, listed=False)


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("ar", ("aspect",)),
    Parameter("seed"),
    Parameter("no", repeatable=True),
    Parameter("chaos", ("c",)),
    Parameter("stylize", ("s",)),
    Parameter("quality", ("q",)),
    Parameter("stop"),
    Parameter("tile", flag=True),
    Parameter("repeat", ("r",)),
    Parameter("model"),
    Parameter("niji", optional=True),
    Parameter("draft", flag=True),
    # Midjourney's parameters of today (honoured where imaginebot can, else noted).
    _quiet("weird"),
    _quiet("w"),  # --weird, or with --h the legacy width
    _quiet("h"),  # the legacy height
    _quiet("version", "v"),
    _quiet("style"),
    _quiet("raw", flag=True),
    _quiet("exp"),
    Parameter("profile", ("p", "personalize"), optional=True, repeatable=True, listed=False),
    Parameter("sref", repeatable=True, listed=False),
    _quiet("sw"),
    _quiet("sv"),
    _quiet("iw"),
    _quiet("cref"),
    _quiet("cw"),
    Parameter("cn", listed=False),
    _quiet("oref"),
    _quiet("ow"),
    _quiet("zoom"),
    _quiet("video", flag=True),
    _quiet("motion"),
    _quiet("loop", flag=True),
    _quiet("bs"),
    _quiet("end"),
    # Midjourney's past (2022-2023): accepted, mapped where there is a meaning, else noted.
    _quiet("sameseed", optional=True),
    *(
        _quiet(name, flag=True)
        for name in (
            "hd",
            "uplight",
            "upbeta",
            "upanime",
            "test",
            "testp",
            "creative",
            "beta",
            "fast",
            "relax",
            "turbo",
            "wallpaper",
        )
    ),
    _quiet("vibe", optional=True),
)
# Parameters that take no value, and those whose value may be left out.
FLAGS: frozenset[str] = frozenset(p.name for p in PARAMETERS if p.flag)
OPTIONAL: frozenset[str] = frozenset(p.name for p in PARAMETERS if p.optional)
REPEATABLE: frozenset[str] = frozenset(p.name for p in PARAMETERS if p.repeatable)

# Every accepted spelling (lower case, without the dashes) -> its canonical name.
NAMES: dict[str, str] = {alias: p.name for p in PARAMETERS for alias in (p.name, *p.aliases)}

# Whole-number parameters: canonical name -> (low, high). `repeat`'s high end comes from the limits.
INT_RANGES: dict[str, tuple[int, int]] = {
    "seed": (0, 4_294_967_295),
    "chaos": (0, 100),
    "stylize": (0, 1000),
    "stop": (10, 100),
    "weird": (0, 3000),
    "w": (0, 3000),
    "h": (64, 8192),
    "exp": (0, 100),
    "sw": (0, 1000),
    "sv": (1, 7),
    "ow": (1, 1000),
    "bs": (1, 4),
    "sameseed": (0, 4_294_967_295),
}
# Decimal parameters: canonical name -> (low, high).
DECIMAL_RANGES: dict[str, tuple[str, str]] = {"iw": ("0", "3"), "zoom": ("1", "2"), "cw": ("0", "100")}
# Parameters that take one word from a fixed set.
CHOICES: dict[str, tuple[str, ...]] = {
    "style": ("raw", "4a", "4b", "4c", "expressive", "cute", "scenic", "original", "default", "a tuner code"),
    "motion": ("low", "high"),
    "cn": ("canny", "depth", "pose", "scribble", "tile"),  # ControlNet kinds (gen.controlnets)
}
CONTROL_WEIGHT_MAX = 2  # --cw with --cn: the ControlNet weight, 0–2

AR_ALLOWED = "two whole numbers from 1:4 to 4:1, like --ar 16:9"
QUALITY_ALLOWED = ".25, .5, 1, 2 or 4"
NO_ALLOWED = "a comma-separated list of things to leave out, like --no text, people"
MODEL_ALLOWED = "the name or alias of a model"
LORA_WEIGHT_MIN = -2
LORA_WEIGHT_MAX = 2
LORA_ALLOWED = "<lora:NAME> or <lora:NAME:W> with a lora weight W from -2 to 2"


# What the parameters without a numeric range take.
PHRASES: dict[str, str] = {
    "ar": AR_ALLOWED,
    "quality": QUALITY_ALLOWED,
    "no": NO_ALLOWED,
    "model": MODEL_ALLOWED,
    "version": "a Midjourney version number like 6.1 or 7",
    "niji": "nothing, or a niji version number like 6",
    "profile": "nothing, or style codes like --p mystyle",
    "sref": "image URLs or style codes, like --sref https://example.com/style.png",
    "cref": "image URLs, like --cref https://example.com/character.png",
    "oref": "an image URL, like --oref https://example.com/object.png",
    "end": "an image URL",
    "w": "a whole number from 0 to 3000 (--weird), or a width from 64 with --h",
    "vibe": "nothing, or one word",
}


def whole_allowed(low: int, high: int) -> str:
    return f"a whole number from {low} to {high}"


def allowed(name: str, max_repeat: int) -> str:
    """What parameter `name` (canonical) accepts, as a phrase: `a whole number from 0 to 100`."""
    if name in PHRASES:
        return PHRASES[name]
    if name == "repeat":
        return whole_allowed(1, max_repeat)
    if name in DECIMAL_RANGES:
        low, high = DECIMAL_RANGES[name]
        return f"a number from {low} to {high}"
    if name in CHOICES:
        words = CHOICES[name]
        return ", ".join(words[:-1]) + " or " + words[-1]
    low_int, high_int = INT_RANGES[name]
    return whole_allowed(low_int, high_int)


def known_parameters() -> str:
    names = [f"--{p.name}" for p in PARAMETERS if p.listed]
    return ", ".join(names) + " or another Midjourney parameter like --v or --p"


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


def control_weight(typed: str, value: float) -> str:
    limit = CONTROL_WEIGHT_MAX
    return f"{typed} {value:g} is out of range: with --cn it is the ControlNet weight, from 0 to {limit}"


def no_text() -> str:
    return "the prompt has no text: describe the image before any parameters"


def only_image_prompts() -> str:
    return "the prompt has only image URLs: describe the image in text too"


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
    """Midjourney refuses a prompt whose `::` weights add up to zero or less; so does imaginebot."""
    return f"the :: weights add up to {total}; their sum must be positive"


# --- models and LoRAs ---------------------------------------------------------------------------


def unknown_model(typed: str, value: str, known: str) -> str:
    return f"{typed} {shown(value)} is not a known model: use one of {known}"


def no_niji_model(known: str) -> str:
    return f"--niji needs a model with the alias niji and there is none: use --model with one of {known}"


def bad_size(width: int, height: int) -> str:
    """The legacy `--w W --h H` size whose ratio is outside what --ar allows."""
    return (
        f"--w {width} --h {height} is not a valid size: use a width and height from 64 whose ratio is "
        f"from 1:4 to 4:1, or --ar"
    )


def style_lora_missing(style: str, lora: str, known: str) -> str:
    return (
        f"--p {shown(style)} uses <lora:{shown(lora)}>, which is not a known lora: ask the operator to fix "
        f"[styles.{shown(style)}] (loras here: {known})"
    )


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
