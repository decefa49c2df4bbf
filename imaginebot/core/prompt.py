"""The Midjourney-style prompt language: text, `::` weights, `{a, b}` permutations and `--parameters`.

`parse_prompt(text)` turns what a person typed into one JobSpec per job, or raises PromptError whose
message (one sentence, see imaginebot.core.prompt_messages) says what is wrong and what is allowed.

Order of work:

1. `—` (an em dash, what phones type for `--`) is read as `--` everywhere.
2. `{a, b}` permutations are expanded over the whole input, parameters included (prompt_expand).
3. Each expansion is split on whitespace. The parameters start at the first token `--name` whose name
   starts with a letter; each takes the tokens up to the next `--name` as its value. Everything before
   is the text, whose whitespace runs collapse to one space.
4. The text is split into `::` weighted parts; the parameters are checked, the user's defaults fill in
   what the prompt does not say, and the engine settings are derived:

   - width × height: w = sqrt(B² · W/H), h = sqrt(B² · H/W) for `--ar W:H` and the model's base
     resolution B, each rounded to the nearest multiple of 8 (ties up), so the area stays close to B².
   - steps = max(1, floor(base_steps × quality + 0.5)): 30 base steps give 30 / 15 / 8 for
     `--quality 1 / .5 / .25`.
   - guidance_scale from `--stylize` s, piecewise linear and rounded to 2 decimals:
     9 − 2·s/100 for s ≤ 100 (0 → 9.0, 100 → 7.0), then 7 − 4·(s − 100)/900 (1000 → 3.0). Low stylize
     follows the text closely; high stylize leaves the model more of its own taste.

`--repeat N` yields N copies of each expansion, consecutively (p1, p1, p2, p2).

Models and LoRAs (the catalogue, imaginebot.core.catalogue): `--model NAME` (a name or alias) or
`--niji` (the model with the alias `niji`) choose the model, else the configured default. JobSpec.model
is the chosen model's catalogue name, or "" for the configured default (so a caller's own default, e.g.
`imagine --model`, still applies); `ParserLimits.job_json(spec)` gives the JOB with the name resolved. Its own
`steps` replace the base steps, its `guidance_scale` applies unless `--stylize` (or the user's default)
is given, and its `base_resolution` sizes `--ar`. `--draft` uses its draft profile: the profile's steps
and guidance, and its `draft_lora` appended to the LoRAs. `<lora:NAME>` / `<lora:NAME:W>` tags
(W from -2 to 2, default 1) are taken out of the text after the permutations are expanded, so a tag
inside `{…}` belongs to its option. A parameter the model's family cannot honour (e.g. `--no` or `::`
on FLUX.1, see catalogue.FAMILY_PROFILES) is an error naming it and the model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from imaginebot.core import prompt_messages as msg
from imaginebot.core.catalogue import Catalogue
from imaginebot.core.domain import JobSpec, LoraRef, PromptPart, UserDefaults
from imaginebot.core.prompt_expand import expand
from imaginebot.core.prompt_messages import FLAGS, INT_RANGES, NAMES, PromptError
from imaginebot.core.prompt_models import choose_model, take_loras
from imaginebot.core.sizes import round8

if TYPE_CHECKING:
    from imaginebot.core.config import Settings

__all__ = [
    "ParserLimits",
    "PromptError",
    "dimensions",
    "guidance_for_stylize",
    "parse_prompt",
    "steps_for_quality",
]

EM_DASH = "\u2014"
_WHOLE = re.compile(r"-?[0-9]+")
_RATIO = re.compile(r"([0-9]+):([0-9]+)")
_DECIMAL = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")
_WEIGHT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?=\s|\Z)")
_QUALITIES: dict[Decimal, float] = {Decimal("0.25"): 0.25, Decimal("0.5"): 0.5, Decimal("1"): 1.0}
# Longer numbers than this are out of every range; it also keeps int() away from huge digit strings.
_MAX_DIGITS = 30


@dataclass(frozen=True)
class ParserLimits:
    """What the parser needs from the configuration: caps, the default model's resolution and steps,
    and the catalogue of models and LoRAs (without one: the tiny model alone, no LoRAs).

    `base_resolution` is the default model's; other models use their catalogue entry's. `steps` is the
    base step count of every model whose entry does not set its own.
    """

    max_repeat: int = 4
    max_permutations: int = 16
    base_resolution: int = 512
    steps: int = 30
    max_loras: int = 4
    catalogue: Catalogue = field(default_factory=Catalogue.single, compare=False)

    def model_of(self, spec: JobSpec) -> str:
        """The catalogue name of the model `spec` runs on: its own, else the configured default."""
        return spec.model or self.catalogue.default_name

    def job_json(self, spec: JobSpec) -> dict[str, Any]:
        """The JOB object of INTERFACE.md: `spec.to_json()` with `model` resolved to a catalogue name."""
        data = spec.to_json()
        data["model"] = self.model_of(spec)
        return data

    @classmethod
    def from_settings(cls, settings: Settings, catalogue: Catalogue | None = None) -> ParserLimits:
        """Limits from the configuration; `catalogue` defaults to `Catalogue.from_settings(settings)`."""
        models = catalogue if catalogue is not None else Catalogue.from_settings(settings)
        return cls(
            max_repeat=settings.queue.max_repeat,
            max_permutations=settings.queue.max_permutations,
            base_resolution=models.default.base_resolution,
            steps=settings.gen.steps,
            max_loras=settings.gen.max_loras,
            catalogue=models,
        )


# --- public helpers -----------------------------------------------------------------------------


def dimensions(aspect_ratio: str, base_resolution: int) -> tuple[int, int]:
    """(width, height) for `W:H` at base resolution B: area ≈ B², each side a multiple of 8."""
    w, h = _ratio(aspect_ratio, "--ar")
    area = float(base_resolution) ** 2
    return round8(math.sqrt(area * w / h)), round8(math.sqrt(area * h / w))


def guidance_for_stylize(stylize: int) -> float:
    """Classifier-free guidance for `--stylize`: 0 → 9.0, 100 → 7.0, 1000 → 3.0, linear in between."""
    s = min(max(stylize, 0), 1000)
    value = 9.0 - 2.0 * s / 100 if s <= 100 else 7.0 - 4.0 * (s - 100) / 900
    return round(value, 2)


def steps_for_quality(quality: float, base_steps: int) -> int:
    """Denoising steps for `--quality`: base_steps × quality, rounded half up, at least 1."""
    return max(1, math.floor(base_steps * quality + 0.5))


def parse_prompt(
    text: str, limits: ParserLimits = ParserLimits(), defaults: UserDefaults | None = None
) -> list[JobSpec]:
    """Every job `text` asks for, in order; PromptError (a message for a person) when it is not valid."""
    expansions = expand(text.replace(EM_DASH, "--"), limits.max_permutations)
    jobs: list[JobSpec] = []
    for variant in expansions:
        spec, repeat = _parse_one(variant, limits, defaults or UserDefaults())
        jobs.extend([spec] * repeat)
    return jobs


# --- one expansion ------------------------------------------------------------------------------


def _is_parameter(token: str) -> bool:
    return len(token) > 2 and token.startswith("--") and token[2].isascii() and token[2].isalpha()


def _parse_one(text: str, limits: ParserLimits, defaults: UserDefaults) -> tuple[JobSpec, int]:
    text, loras = take_loras(text, limits.catalogue, limits.max_loras)
    tokens = text.split()
    start = next((i for i, t in enumerate(tokens) if _is_parameter(t)), len(tokens))
    prompt = " ".join(tokens[:start])
    values = _read_parameters(tokens[start:], limits)
    if not prompt:
        raise PromptError(msg.no_text())
    model, chosen = choose_model(values, limits.catalogue, defaults)
    profile = model.profile
    if "no" in values and not profile.negative_prompt:
        raise PromptError(msg.not_supported("--no", model.name, profile.label))
    if "::" in prompt and not profile.prompt_weights:
        raise PromptError(msg.not_supported(":: weights", model.name, profile.label))
    weights = _weights(prompt)

    aspect = values.get("ar")
    if aspect is None:
        aspect = _aspect_text(defaults.aspect_ratio, "--ar") if defaults.aspect_ratio else "1:1"
    stylize = _pick(values, "stylize", defaults.stylize, 100)
    chaos = _pick(values, "chaos", defaults.chaos, 0)
    stop = _pick(values, "stop", defaults.stop, 100)
    quality = values.get("quality")
    if quality is None:
        quality = _default_quality(defaults.quality)
    tile = values.get("tile")
    if tile is None:
        tile = bool(defaults.tile)
    assert isinstance(aspect, str) and isinstance(quality, float) and isinstance(tile, bool)

    is_default = model.name == limits.catalogue.default_name
    width, height = dimensions(aspect, limits.base_resolution if is_default else model.base_resolution)
    steps = steps_for_quality(quality, model.steps or limits.steps)
    if "stylize" in values or defaults.stylize is not None or model.guidance_scale is None:
        guidance = guidance_for_stylize(stylize)
    else:
        guidance = model.guidance_scale
    draft = bool(values.get("draft"))
    if draft:
        if model.draft is None:
            raise PromptError(msg.no_draft_profile(model.name))
        steps, guidance = model.draft.steps, model.draft.guidance_scale
        lora = model.draft.lora
        if lora and all(ref.name != lora for ref in loras):
            if lora not in limits.catalogue.lora_files:
                raise PromptError(msg.unknown_lora(lora, limits.catalogue.describe_loras()))
            loras = [*loras, LoraRef(lora, 1.0)]
    seed = values.get("seed")
    spec = JobSpec(
        prompt=prompt,
        negative_prompt=str(values.get("no", "")),
        weights=weights,
        aspect_ratio=aspect,
        width=width,
        height=height,
        seed=int(seed) if seed is not None else None,
        chaos=chaos,
        stylize=stylize,
        quality=quality,
        stop=stop,
        tile=tile,
        steps=steps,
        guidance_scale=guidance,
        model=model.name if chosen else "",
        loras=tuple(loras),
        draft=draft,
    )
    return spec, int(values.get("repeat", 1))


def _read_parameters(tokens: list[str], limits: ParserLimits) -> dict[str, str | int | float | bool]:
    """The parameters' checked values by canonical name; tokens[0], if any, is a `--name`."""
    out: dict[str, str | int | float | bool] = {}
    i = 0
    while i < len(tokens):
        typed = tokens[i]
        j = i + 1
        while j < len(tokens) and not _is_parameter(tokens[j]):
            j += 1
        name = NAMES.get(typed[2:].lower())
        if name is None:
            raise PromptError(msg.unknown_parameter(typed))
        if name in out:
            raise PromptError(msg.given_twice(name))
        out[name] = _value(name, "--" + typed[2:].lower(), tokens[i + 1 : j], limits)
        i = j
    return out


def _value(name: str, typed: str, words: list[str], limits: ParserLimits) -> str | int | float | bool:
    if name in FLAGS:
        if words:
            raise PromptError(msg.takes_no_value(typed))
        return True
    if not words:
        raise PromptError(msg.needs_value(typed, name, limits.max_repeat))
    value = " ".join(words)
    if name == "no":
        items = [item.strip() for item in value.split(",")]
        kept = [item for item in items if item]
        if not kept:
            raise PromptError(msg.not_valid(typed, value, name, limits.max_repeat))
        return ", ".join(kept)
    if name == "ar":
        return _aspect_text(value, typed)
    if name == "model":
        model = limits.catalogue.find(value)
        if model is None:
            raise PromptError(msg.unknown_model(typed, value, limits.catalogue.describe_names()))
        return model.name
    if len(words) > 1:
        raise PromptError(msg.not_valid(typed, value, name, limits.max_repeat))
    if name == "quality":
        return _quality(value, typed, limits)
    low, high = (1, limits.max_repeat) if name == "repeat" else INT_RANGES[name]
    return _whole(value, typed, name, low, high, limits)


def _whole(value: str, typed: str, name: str, low: int, high: int, limits: ParserLimits) -> int:
    if not _WHOLE.fullmatch(value):
        raise PromptError(msg.not_valid(typed, value, name, limits.max_repeat))
    if len(value.lstrip("-").lstrip("0")) > _MAX_DIGITS:
        raise PromptError(msg.out_of_range(typed, value, name, limits.max_repeat))
    number = int(value)
    if not low <= number <= high:
        raise PromptError(msg.out_of_range(typed, value, name, limits.max_repeat))
    return number


def _quality(value: str, typed: str, limits: ParserLimits) -> float:
    if _DECIMAL.fullmatch(value) and len(value) <= _MAX_DIGITS:
        found = _QUALITIES.get(Decimal(value))
        if found is not None:
            return found
    raise PromptError(msg.not_valid(typed, value, "quality", limits.max_repeat))


def _ratio(value: str, typed: str) -> tuple[int, int]:
    """`W:H` reduced by their gcd; PromptError unless both are positive and 1:4 ≤ W:H ≤ 4:1."""
    m = _RATIO.fullmatch(value)
    if m and len(value) <= 2 * _MAX_DIGITS:
        w, h = int(m.group(1)), int(m.group(2))
        if w > 0 and h > 0 and w <= 4 * h and h <= 4 * w:
            g = math.gcd(w, h)
            return w // g, h // g
    raise PromptError(msg.not_valid(typed, value, "ar", 0))


def _aspect_text(value: str, typed: str) -> str:
    w, h = _ratio(value, typed)
    return f"{w}:{h}"


def _pick(values: dict[str, str | int | float | bool], name: str, default: int | None, fallback: int) -> int:
    if name in values:
        return int(values[name])
    if default is None:
        return fallback
    low, high = INT_RANGES[name]
    if not low <= default <= high:
        raise PromptError(msg.out_of_range("--" + name, str(default), name, 0))
    return int(default)


def _default_quality(default: float | None) -> float:
    if default is None:
        return 1.0
    for allowed in _QUALITIES.values():
        if default == allowed:
            return allowed
    raise PromptError(msg.not_valid("--quality", str(default), "quality", 0))


def _weights(prompt: str) -> tuple[PromptPart, ...]:
    """The `::` parts of the text with their weights (1.0 where none is given)."""
    if "::" not in prompt:
        return (PromptPart(prompt, 1.0),)
    segments = prompt.split("::")
    texts = [segments[0]]
    raw: list[str | None] = []
    for segment in segments[1:]:
        m = _WEIGHT.match(segment)
        raw.append(m.group(0) if m else None)
        texts.append(segment[m.end() :] if m else segment)
    raw.append(None)  # the last part has nothing after it

    parts: list[PromptPart] = []
    given: list[str] = []
    for part_text, weight_text in zip(texts, raw, strict=True):
        part = part_text.strip()
        if not part:
            if weight_text is not None:
                raise PromptError(msg.weight_without_text(weight_text))
            continue
        weight = 1.0 if weight_text is None else float(weight_text)
        if not math.isfinite(weight):
            raise PromptError(msg.weight_too_large(str(weight_text)))
        given.append(weight_text or "1")
        parts.append(PromptPart(part, weight + 0.0))
    if not parts:
        raise PromptError(msg.no_text())
    with localcontext() as ctx:
        ctx.prec = sum(len(g) for g in given) + 10
        total = sum((Decimal(g) for g in given), Decimal(0))
    if total <= 0:
        shown = "0" if total == 0 else format(total.normalize(), "f")
        raise PromptError(msg.weights_not_positive(shown))
    return tuple(parts)
