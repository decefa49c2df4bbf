"""The notes of a parsed prompt: one line each on a Midjourney parameter imaginebot read but honours
differently or not at all, so a person sees what was done with it (JOB `"notes"`, /imagine's reply).

Each note starts with the parameter as typed and says what imaginebot did, e.g.
`--hd: a 2022 Midjourney option, ignored here`.
"""

from __future__ import annotations

from imaginebot.core.prompt_messages import shown

# Parameters with nothing to map them to: the reason each is ignored (after "--name: ").
IGNORED: dict[str, str] = {
    "hd": "Midjourney's high-definition mode (2022, and V8's 2K renders); here the model's own size is used",
    "sameseed": "a 2022 Midjourney option for the grid's noise, ignored here",
    "uplight": "chose a 2022 Midjourney upscaler; the U buttons here use imaginebot's own, ignored",
    "upbeta": "chose a 2022 Midjourney upscaler; the U buttons here use imaginebot's own, ignored",
    "upanime": "chose a 2022 Midjourney upscaler; the U buttons here use imaginebot's own, ignored",
    "beta": "chose a 2022 Midjourney beta model; the usual model is used",
    "test": "chose a 2022 Midjourney test model; the usual model is used",
    "testp": "chose a 2022 Midjourney test model; the usual model is used",
    "creative": "tuned a 2022 Midjourney test model; ignored here",
    "vibe": "a Midjourney option with no equivalent here, ignored",
    "video": "asks Midjourney for a video; imaginebot makes still images only, ignored",
    "motion": "a Midjourney video option; imaginebot makes still images only, ignored",
    "loop": "a Midjourney video option; imaginebot makes still images only, ignored",
    "bs": "a Midjourney video option; imaginebot makes still images only, ignored",
    "end": "a Midjourney video option; imaginebot makes still images only, ignored",
    "raw": "imaginebot has no separate raw mode; a lower --stylize follows the text more literally, ignored",
    "exp": "Midjourney's experimental aesthetics have no equivalent here, ignored",
    "sv": "imaginebot has one style-reference method, ignored",
    "cref": "character references are not supported here, ignored",
    "cw": "character references are not supported here, ignored",
    "oref": "omni references are not supported here, ignored",
    "ow": "omni references are not supported here, ignored",
    "zoom": "zooming out is done with the Zoom Out buttons of an upscaled image; ignored in a new prompt",
}


def ignored(typed: str, name: str, value: str = "") -> str:
    shown_value = f" {shown(value)}" if value else ""
    return f"{typed}{shown_value}: {IGNORED[name]}"


def style_ignored(value: str, older: bool) -> str:
    if value == "raw":
        return f"--style {value}: {IGNORED['raw']}"
    if older:
        return f"--style {shown(value)}: chose a look of an older Midjourney model, ignored"
    return f"--style {shown(value)}: a Midjourney Style Tuner code, which means nothing here; ignored"


def legacy_stylize(typed: str, value: int, applied: int) -> str:
    return f"{typed} {value}: a Midjourney V3 value (625–60000), read as --s {applied}"


def weird_as_chaos(typed: str, weird: int, chaos: int) -> str:
    return f"{typed} {weird}: no separate weirdness here; the four images differ as with --chaos {chaos}"


def size_as_aspect(width: int, height: int, aspect: str) -> str:
    return f"--w {width} --h {height}: a 2022 Midjourney size, read as --ar {aspect}"


def height_as_aspect(height: int, aspect: str) -> str:
    return f"--h {height}: a 2022 Midjourney height (width 512), read as --ar {aspect}"


def size_ignored(words: str) -> str:
    return f"{words}: ignored, --ar sets the size"


def wallpaper(aspect: str | None) -> str:
    if aspect is None:
        return "--wallpaper: a 2022 Midjourney size, read as --ar 16:9"
    return f"--wallpaper: ignored, the prompt already sets the size ({aspect})"


def sameseed(seed: int, used: bool) -> str:
    if used:
        return f"--sameseed {seed}: a 2022 Midjourney option, read as --seed {seed}"
    return f"--sameseed {seed}: ignored, --seed sets the seed"


def version_model(typed: str, version: str, model: str) -> str:
    return f"{typed} {version}: runs on model {shown(model)}"


def version_unmapped(typed: str, version: str, alias: str) -> str:
    return f"{typed} {version}: no model here has the alias {alias}, so the usual model is used"


def version_overruled(typed: str, version: str, by: str) -> str:
    return f"{typed} {version}: ignored, {by} chooses the model"


def profile_unknown(code: str, known: str) -> str:
    where = f"the styles here are {known}" if known else "this bot defines none"
    return f"--p {shown(code)}: not a personal style of this bot ({where}), ignored"


def profile_none() -> str:
    return "--p: you have no personal style here, so nothing was added"


IW_IGNORED_PREFIX = "--iw "


def image_weight(value: float) -> str:
    return f"{IW_IGNORED_PREFIX}{value:g}: there is no image prompt to weigh, ignored"


def style_weight_alone(weight: int) -> str:
    return f"--sw {weight}: there is no --sref to weigh, ignored"
