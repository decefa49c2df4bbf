"""Midjourney's prompt conventions beyond the core parameters (part of the prompt parser; torch-free).

- Dashes: an em dash `—` or en dash `–` (what phones type for `--`) at the start of a word is read as
  `--` only when a parameter name follows it (`—ar 3:2`); everywhere else it stays as typed.
- Image prompts: image URLs at the very start of the prompt (`https://….png`, or on a known image host,
  also in Discord's `<…>`) are taken out of the text and kept in the job.
- Past parameters: `--w W --h H` (2022's width and height) and `--h H` alone become an aspect ratio,
  `--wallpaper` is 16:9, `--sameseed N` a seed; `--weird`/`--w` raises the chaos.
- Personal styles: `--p CODE` (also `--profile`, `--personalize`) names a `[styles.CODE]` table of the
  configuration: its LoRAs join the job and its suffix is appended to the text; a bare `--p` uses the
  user's own style (`/settings`), where one is set.
- Everything else read but not honoured gets a one-line note (imaginebot.core.prompt_notes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imaginebot.core import prompt_messages as msg
from imaginebot.core import prompt_notes as notes_text
from imaginebot.core.catalogue import Catalogue
from imaginebot.core.domain import LoraRef, UserDefaults
from imaginebot.core.prompt_messages import NAMES, PromptError
from imaginebot.core.prompt_params import Parameters

if TYPE_CHECKING:
    from imaginebot.core.config import Settings

_DASHES = re.compile(r"(?<!\S)[-\u2013\u2014]*[\u2013\u2014][-\u2013\u2014]*([A-Za-z][A-Za-z0-9]*)(?=\s|\Z)")
_IMAGE_FILE = re.compile(r"\.(?:png|jpe?g|webp|gif|bmp|avif)$", re.IGNORECASE)
IMAGE_HOSTS = frozenset(
    {
        "cdn.discordapp.com",
        "media.discordapp.net",
        "s.mj.run",
        "i.mj.run",
        "cdn.midjourney.com",
        "i.imgur.com",
        "i.pinimg.com",
        "images.unsplash.com",
    }
)
SPEED_MODES = ("fast", "relax", "turbo")  # imaginebot.core.gpu_time.MODES
WALLPAPER_ASPECT = "16:9"
LEGACY_WIDTH = 512  # 2022's default width, for a lone --h


@dataclass(frozen=True, slots=True)
class PersonalStyle:
    """A `[styles.NAME]` table: LoRAs (name → weight) added to the job and a suffix added to the text."""

    name: str
    loras: tuple[LoraRef, ...] = ()
    suffix: str = ""


def styles_from_settings(settings: Settings) -> dict[str, PersonalStyle]:
    """The `[styles.NAME]` tables of the configuration, by name."""
    styles = {}
    for name, entry in settings.styles.items():
        loras = tuple(LoraRef(lora, float(weight) + 0.0) for lora, weight in entry.loras.items())
        styles[name] = PersonalStyle(name, loras, entry.suffix)
    return styles


def normalize_dashes(text: str) -> str:
    """`—ar 3:2` → `--ar 3:2`; an em or en dash before anything but a parameter name stays."""
    if "\u2014" not in text and "\u2013" not in text:
        return text

    def replace(m: re.Match[str]) -> str:
        name = m.group(1)
        return "--" + name if name.lower() in NAMES else m.group(0)

    return _DASHES.sub(replace, text)


def is_image_url(token: str) -> bool:
    url = token[1:-1] if token.startswith("<") and token.endswith(">") else token
    if not url.lower().startswith(("https://", "http://")):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return bool(host) and (host in IMAGE_HOSTS or bool(_IMAGE_FILE.search(parts.path)))


def take_image_urls(tokens: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The image URLs at the start of `tokens` (without Discord's `<…>`), and the tokens after them."""
    n = 0
    while n < len(tokens) and is_image_url(tokens[n]):
        n += 1
    return tuple(t.strip("<>") for t in tokens[:n]), tokens[n:]


def legacy_aspect(params: Parameters, notes: dict[str, str]) -> str | None:
    """The aspect ratio `--ar`, the 2022 `--w`/`--h` size or `--wallpaper` ask for (None: none does)."""
    aspect = params.get("ar")
    width, height = params.get("w"), params.get("h")
    if isinstance(height, int):
        w = width if isinstance(width, int) else LEGACY_WIDTH
        if w < 64 or not (w <= 4 * height and height <= 4 * w):
            raise PromptError(msg.bad_size(w, height))
        g = math.gcd(w, height)
        size_aspect = f"{w // g}:{height // g}"
        typed = f"--w {w} --h {height}" if width is not None else f"--h {height}"
        if aspect is not None:
            notes["h"] = notes_text.size_ignored(typed)
        elif width is not None:
            notes["h"] = notes_text.size_as_aspect(w, height, size_aspect)
        else:
            notes["h"] = notes_text.height_as_aspect(height, size_aspect)
        aspect = aspect if aspect is not None else size_aspect
    if "wallpaper" in params:
        notes["wallpaper"] = notes_text.wallpaper(None if aspect is None else str(aspect))
        aspect = aspect if aspect is not None else WALLPAPER_ASPECT
    return None if aspect is None else str(aspect)


# What marks a prompt as one for Midjourney V1–V3 (2022), whose --stylize ran from 625 to 60000.
_LEGACY_MODELS = ("hd", "test", "testp")
_V3_DEFAULT_STYLIZE = 2500


def legacy_stylize(params: Parameters, notes: dict[str, str]) -> int | None:
    """`--stylize` checked against 0–1000; in a V1–V3 prompt (`--v 3`, `--hd`, `--test`, `--testp`) a
    larger value is a V3 one, scaled so V3's default 2500 is today's 100 (at most 1000)."""
    value = params.integer("stylize")
    if value is None or value <= 1000:
        return value
    typed = params.spelled("stylize")
    version = params.get("version")
    legacy = any(n in params for n in _LEGACY_MODELS) or (isinstance(version, str) and version[0] in "123")
    if not legacy:
        raise PromptError(msg.out_of_range(typed, str(value), "stylize", 0))
    applied = min(1000, math.floor(value * 100 / _V3_DEFAULT_STYLIZE + 0.5))
    notes["stylize"] = notes_text.legacy_stylize(typed, value, applied)
    return applied


def weird_and_chaos(params: Parameters, chaos: int, notes: dict[str, str]) -> tuple[int, int]:
    """(weird, chaos the engine applies): `--weird`/a lone `--w` (0–3000) adds weird/30 to the chaos."""
    name = "weird" if "weird" in params else "w" if "w" in params and "h" not in params else None
    if name is None:
        return 0, chaos
    if "weird" in params and "w" in params and "h" not in params:
        raise PromptError(msg.given_twice("weird"))
    weird = params.integer(name) or 0
    applied = min(100, chaos + math.floor(weird / 30 + 0.5))
    if weird:
        notes[name] = notes_text.weird_as_chaos(params.spelled(name), weird, applied)
    return weird, applied


def sameseed(params: Parameters, notes: dict[str, str]) -> int | None:
    """The seed: `--seed`, else 2022's `--sameseed N`."""
    seed = params.integer("seed")
    same = params.integer("sameseed")
    if same is not None:
        notes["sameseed"] = notes_text.sameseed(same, used=seed is None)
        return same if seed is None else seed
    return seed


def personal_styles(
    params: Parameters,
    styles: Mapping[str, PersonalStyle],
    defaults: UserDefaults,
    catalogue: Catalogue,
    notes: dict[str, str],
) -> tuple[list[PersonalStyle], list[str]]:
    """The personal styles `--p` asks for, and the codes that name none (noted)."""
    value = params.get("profile")
    if value is None:
        return [], []
    by_name = {name.lower(): style for name, style in styles.items()}
    if value is True:
        own = getattr(defaults, "style", None)
        found = by_name.get(own.lower()) if isinstance(own, str) and own else None
        if found is None:
            notes["profile"] = notes_text.profile_none()
            return [], []
        chosen = [found]
        unknown: list[str] = []
    else:
        codes = value if isinstance(value, tuple) else ()
        chosen = [by_name[c.lower()] for c in codes if c.lower() in by_name]
        unknown = [c for c in codes if c.lower() not in by_name]
        if unknown:
            known = ", ".join(sorted(styles))
            notes["profile"] = "; ".join(notes_text.profile_unknown(code, known) for code in unknown)
    for style in chosen:
        for ref in style.loras:
            if ref.name not in catalogue.lora_files:
                raise PromptError(msg.style_lora_missing(style.name, ref.name, catalogue.describe_loras()))
    return chosen, unknown


def apply_styles(
    styles: list[PersonalStyle], prompt: str, loras: list[LoraRef], max_loras: int
) -> tuple[str, list[LoraRef]]:
    """The text with the styles' suffixes and the LoRAs with theirs (a LoRA the prompt names keeps
    the prompt's weight)."""
    out = list(loras)
    for style in styles:
        if style.suffix.strip():
            prompt = f"{prompt}, {' '.join(style.suffix.split())}"
        for ref in style.loras:
            if all(have.name != ref.name for have in out):
                out.append(ref)
    if len(out) > max_loras:
        raise PromptError(msg.too_many_loras(len(out), max_loras))
    return prompt, out


def image_references(
    params: Parameters, urls: tuple[str, ...], notes: dict[str, str]
) -> tuple[float, tuple[str, ...], int]:
    """(--iw, --sref references, --sw), kept in the job for the image inputs; noted while unused. (An --iw
    without leading URLs is noted as ignored; the caller drops that note when images are attached:
    `attached_images`.)"""
    iw = params.number("iw")
    image_weight = 1.0 if iw is None else iw
    if iw is not None and not urls:
        notes["iw"] = notes_text.image_weight(image_weight)
    sref = params.get("sref")
    refs = sref if isinstance(sref, tuple) else ()
    sw = params.integer("sw")
    style_weight = 100 if sw is None else sw
    if not refs and sw is not None:
        notes["sw"] = notes_text.style_weight_alone(style_weight)
    return image_weight, refs, style_weight


def attached_images(notes: tuple[str, ...]) -> tuple[str, ...]:
    """A job's notes once image prompts are attached (`/imagine image`, `--image FILE`): --iw weighs them."""
    return tuple(n for n in notes if not n.startswith(notes_text.IW_IGNORED_PREFIX))


def speed_mode(params: Parameters, default: str | None) -> str:
    """`--fast`, `--relax` or `--turbo` (one at most), else the caller's default mode, else "fast"."""
    given = [name for name in SPEED_MODES if name in params]
    if len(given) > 1:
        typed = " and ".join(params.spelled(n) for n in given)
        raise PromptError(f"{typed}: choose one speed mode (--fast, --relax or --turbo)")
    return given[0] if given else default or "fast"


def ignored_notes(params: Parameters, notes: dict[str, str]) -> None:
    """A note for each parameter read that imaginebot has no use for."""
    for name in params.values:
        if name in notes_text.IGNORED and name not in notes:
            value = params.get(name)
            words = " ".join(value) if isinstance(value, tuple) else "" if value is True else f"{value:g}" \
                if isinstance(value, float) else str(value)
            notes[name] = notes_text.ignored(params.spelled(name), name, words)
    style = params.get("style")
    if isinstance(style, str):
        notes["style"] = notes_text.style_ignored(style, style.lower() in msg.CHOICES["style"])


def control(params: Parameters, notes: dict[str, str]) -> tuple[str, float]:
    """(--cn KIND, --cw). With --cn, --cw is the ControlNet weight (0–2, default 1); without, it stays
    Midjourney's character weight (noted, ignored). Call after `ignored_notes`."""
    kind = params.get("cn")
    if not isinstance(kind, str):
        return "", 1.0
    notes.pop("cw", None)
    weight = params.number("cw")
    if weight is not None and weight > msg.CONTROL_WEIGHT_MAX:
        raise PromptError(msg.control_weight(params.spelled("cw"), weight))
    return kind, 1.0 if weight is None else weight


def ordered_notes(params: Parameters, notes: dict[str, str]) -> tuple[str, ...]:
    """The notes in the order their parameters were typed (the image prompt's first)."""
    order = ["image", *params.values]
    keys = sorted(notes, key=lambda k: order.index(k) if k in order else len(order))
    return tuple(notes[k] for k in keys)
