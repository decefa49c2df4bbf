"""The Midjourney-style prompt language: text, `::` weights, `{a, b}` permutations and `--parameters`.

`parse_prompt(text)` turns what a person typed into one JobSpec per job, or raises PromptError whose
message (one sentence, see imaginebot.core.prompt_messages) says what is wrong and what is allowed.

Order of work:

1. `{a, b}` permutations are expanded over the whole input, parameters included (prompt_expand).
2. In each expansion an em or en dash (what phones type for `--`) directly before a parameter name is
   read as `--` (prompt_compat); `<lora:…>` tags are taken out; image URLs at the start become the
   job's image prompts.
3. The rest is split on whitespace. The parameters start at the first token `--name` whose name
   starts with a letter (prompt_params); each takes the tokens up to the next `--name` as its value.
   Everything before is the text, whose whitespace runs collapse to one space.
4. The text is split into `::` weighted parts; the parameters are checked, the user's defaults fill in
   what the prompt does not say, and the engine settings are derived:

   - width × height: w = sqrt(B² · W/H), h = sqrt(B² · H/W) for `--ar W:H` and the model's base
     resolution B, each rounded to the nearest multiple of 8 (ties up), so the area stays close to B².
   - steps = max(1, floor(base_steps × quality + 0.5)): 30 base steps give 8 / 15 / 30 / 60 / 120 for
     `--quality .25 / .5 / 1 / 2 / 4`.
   - guidance_scale from `--stylize` s, piecewise linear and rounded to 2 decimals:
     9 − 2·s/100 for s ≤ 100 (0 → 9.0, 100 → 7.0), then 7 − 4·(s − 100)/900 (1000 → 3.0). Low stylize
     follows the text closely; high stylize leaves the model more of its own taste.

`--repeat N` yields N copies of each expansion, consecutively (p1, p1, p2, p2).

Midjourney's other parameters, today's and 2022's, are read too (prompt_compat): honoured where
imaginebot can (`--weird` as extra chaos, `--w W --h H` as an aspect ratio, `--v N` through a model
alias, `--p` through `[styles.NAME]`), kept for the image inputs (image URLs, `--iw`, `--sref`, `--sw`),
and otherwise noted: JobSpec.notes holds one line on each, which the CLI and /imagine show.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from imaginebot.core import prompt_compat as compat
from imaginebot.core import prompt_messages as msg
from imaginebot.core.catalogue import Catalogue
from imaginebot.core.domain import JobSpec, LoraRef, PromptPart, UserDefaults
from imaginebot.core.prompt_compat import PersonalStyle
from imaginebot.core.prompt_expand import expand
from imaginebot.core.prompt_messages import INT_RANGES, PromptError
from imaginebot.core.prompt_models import choose_model, take_loras
from imaginebot.core.prompt_params import QUALITIES, Parameters, is_parameter, ratio, read_parameters
from imaginebot.core.prompt_prefer import apply_preferences
from imaginebot.core.sizes import round8

if TYPE_CHECKING:
    from imaginebot.core.config import Settings

__all__ = [
    "ParserLimits",
    "PersonalStyle",
    "PromptError",
    "dimensions",
    "guidance_for_stylize",
    "parse_prompt",
    "steps_for_quality",
]

# A `::` weight: the number right after `::`, whatever follows it (`a::2, b` weighs `a` 2).
_WEIGHT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# What separates a weight from the next part's text and is not part of it.
_PART_LEAD = " \t,;"


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
    styles: Mapping[str, PersonalStyle] = field(default_factory=dict, compare=False)  # [styles.NAME]

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
            styles=compat.styles_from_settings(settings),
        )


def _refuse_embeddings(
    prompt: str, negative: object, model: str, family: str, catalogue: Catalogue
) -> None:
    """An embedding's word in the prompt or `--no` of a model whose family cannot use embeddings."""
    words = re.findall(r"[^\s,.;:()\[\]{}]+", f"{prompt} {negative if isinstance(negative, str) else ''}")
    for word in words:
        if word in catalogue.embedding_files:
            raise PromptError(msg.not_supported(f"the embedding {word}", model, family))


# --- public helpers -----------------------------------------------------------------------------


def dimensions(aspect_ratio: str, base_resolution: int, step: int = 8) -> tuple[int, int]:
    """(width, height) for `W:H` at base resolution B: area ≈ B², each side a multiple of 8 (of 16 for
    the families whose transformer works on 2×2 latent patches: `step`, FamilyProfile.size_step)."""
    w, h = ratio(aspect_ratio, "--ar")
    area = float(base_resolution) ** 2
    return round8(math.sqrt(area * w / h), step), round8(math.sqrt(area * h / w), step)


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
    """Every job `text` asks for, in order; PromptError (a message for a person) when it is not valid.
    The user's /prefer options and suffix (in `defaults`) apply first (imaginebot.core.prompt_prefer)."""
    expansions = expand(apply_preferences(text, defaults), limits.max_permutations)
    jobs: list[JobSpec] = []
    for variant in expansions:
        spec, repeat = _parse_one(variant, limits, defaults or UserDefaults())
        jobs.extend([spec] * repeat)
    return jobs


# --- one expansion ------------------------------------------------------------------------------


def _parse_one(text: str, limits: ParserLimits, defaults: UserDefaults) -> tuple[JobSpec, int]:
    text, loras = take_loras(compat.normalize_dashes(text), limits.catalogue, limits.max_loras)
    urls, tokens = compat.take_image_urls(text.split())
    start = next((i for i, t in enumerate(tokens) if is_parameter(t)), len(tokens))
    prompt = " ".join(tokens[:start])
    params = read_parameters(tokens[start:], limits.max_repeat, limits.catalogue)
    if not prompt:
        raise PromptError(msg.only_image_prompts() if urls else msg.no_text())
    notes: dict[str, str] = {}
    model, chosen = choose_model(params, limits.catalogue, defaults, notes)
    styles, _ = compat.personal_styles(params, limits.styles, defaults, limits.catalogue, notes)
    prompt, loras = compat.apply_styles(styles, prompt, loras, limits.max_loras)
    profile = model.profile
    if "no" in params and not profile.negative_prompt:
        raise PromptError(msg.not_supported("--no", model.name, profile.label))
    if "::" in prompt and not profile.prompt_weights:
        raise PromptError(msg.not_supported(":: weights", model.name, profile.label))
    if not profile.embeddings and limits.catalogue.embedding_files:
        _refuse_embeddings(prompt, params.get("no"), model.name, profile.label, limits.catalogue)
    weights = _weights(prompt)

    aspect = compat.legacy_aspect(params, notes)
    if aspect is None:
        aspect = _aspect_text(defaults.aspect_ratio, "--ar") if defaults.aspect_ratio else "1:1"
    stylize = compat.legacy_stylize(params, notes)
    stylize = stylize if stylize is not None else _pick(params, "stylize", defaults.stylize, 100)
    weird, chaos = compat.weird_and_chaos(params, _pick(params, "chaos", defaults.chaos, 0), notes)
    stop = _pick(params, "stop", defaults.stop, 100)
    quality = params.get("quality")
    if quality is None:
        quality = _default_quality(defaults.quality)
    tile = params.get("tile")
    if tile is None:
        tile = bool(defaults.tile)
    assert isinstance(quality, float) and isinstance(tile, bool)

    is_default = model.name == limits.catalogue.default_name
    base = limits.base_resolution if is_default else model.base_resolution
    width, height = dimensions(aspect, base, model.profile.size_step)
    steps = steps_for_quality(quality, model.steps or limits.steps)
    if "stylize" in params or defaults.stylize is not None or model.guidance_scale is None:
        guidance = guidance_for_stylize(stylize)
    else:
        guidance = model.guidance_scale
    draft = bool(params.get("draft"))
    if draft:
        if model.draft is None:
            raise PromptError(msg.no_draft_profile(model.name))
        steps, guidance = model.draft.steps, model.draft.guidance_scale
        lora = model.draft.lora
        if lora and all(ref.name != lora for ref in loras):
            if lora not in limits.catalogue.lora_files:
                raise PromptError(msg.unknown_lora(lora, limits.catalogue.describe_loras()))
            loras = [*loras, LoraRef(lora, 1.0)]
    image_weight, sref, sw = compat.image_references(params, urls, notes)
    seed = compat.sameseed(params, notes)
    mode = compat.speed_mode(params, defaults.mode)
    compat.ignored_notes(params, notes)
    cn, cw = compat.control(params, notes)
    spec = JobSpec(
        prompt=prompt,
        negative_prompt=str(params.get("no") or ""),
        weights=weights,
        aspect_ratio=aspect,
        width=width,
        height=height,
        seed=seed,
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
        weird=weird,
        image_urls=urls,
        iw=image_weight,
        sref=sref,
        sw=sw,
        cn=cn,
        cw=cw,
        mode=mode,
        notes=compat.ordered_notes(params, notes),
    )
    return spec, params.integer("repeat") or 1


def _aspect_text(value: str, typed: str) -> str:
    w, h = ratio(value, typed)
    return f"{w}:{h}"


def _pick(params: Parameters, name: str, default: int | None, fallback: int) -> int:
    value = params.integer(name)
    if value is not None:
        return value
    if default is None:
        return fallback
    low, high = INT_RANGES[name]
    if not low <= default <= high:
        raise PromptError(msg.out_of_range("--" + name, str(default), name, 0))
    return int(default)


def _default_quality(default: float | None) -> float:
    if default is None:
        return 1.0
    for allowed in QUALITIES.values():
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
    for n, (part_text, weight_text) in enumerate(zip(texts, raw, strict=True)):
        part = part_text.strip() if n == 0 else part_text.lstrip(_PART_LEAD).strip()
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
