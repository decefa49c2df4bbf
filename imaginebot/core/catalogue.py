"""The models, LoRAs and embeddings a bot offers, read from the configuration and folders (torch-free).

`Catalogue.from_settings(settings)` is cheap: it lists `gen.models_dir`, `gen.loras_dir` and
`gen.embeddings_dir` and reads small JSON files and safetensors headers only. Its models are:

- every diffusers folder (one with `model_index.json`) or `.safetensors` / `.ckpt` file in
  `gen.models_dir`, named after the folder or file stem;
- every `[models.NAME]` table: with a `path` it adds a model (or re-points a found one of that name),
  without one it describes the model of that name found in the folder (or the default model);
- the default model, `gen.model`: the catalogue model of that name or alias when there is one, else a
  model named exactly `gen.model` (e.g. `tiny`, a path or a Hugging Face id) whose path is that value.

A file whose header cannot be read, or a table that describes nothing, is recorded in `problems` (one
line each) and skipped. Aliases that clash (twice, or equal to another model's name) are a ConfigError.
Relative folders are resolved against the working directory; a missing folder is simply empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from imaginebot.core import modelinfo
from imaginebot.core.config import ConfigError
from imaginebot.core.modelinfo import TINY_MODEL, Family

if TYPE_CHECKING:
    from imaginebot.core.config import ModelEntry, Settings

__all__ = [
    "FAMILY_PROFILES",
    "Catalogue",
    "CatalogueModel",
    "DraftProfile",
    "FamilyProfile",
    "UnknownModelError",
]

MODEL_SUFFIXES = (".safetensors", ".ckpt")
LORA_SUFFIXES = (".safetensors", ".pt", ".bin")
EMBEDDING_SUFFIXES = (".safetensors", ".pt", ".bin")
# --draft without draft_steps / draft_guidance: what few-step LoRAs (LCM, Lightning, Hyper) want.
DRAFT_STEPS = 4
DRAFT_GUIDANCE = 1.5
# How many names an error message lists before "…".
LISTED_MAX = 12


@dataclass(frozen=True, slots=True)
class FamilyProfile:
    """What a model family can honour; a prompt asking for more is an error naming the parameter."""

    family: Family
    label: str
    base_resolution: int
    negative_prompt: bool = True  # --no
    prompt_weights: bool = True  # a::2 b
    embeddings: bool = True  # textual-inversion words (SD 1.x/2.x and SDXL text encoders only)
    size_step: int = 8  # image sides are multiples of this (VAE ×8, and ×2 patches for the MMDiT families)


FAMILY_PROFILES: dict[Family, FamilyProfile] = {
    "sd15": FamilyProfile("sd15", "Stable Diffusion 1.x", 512),
    "sd2": FamilyProfile("sd2", "Stable Diffusion 2.x", 768),
    "sdxl": FamilyProfile("sdxl", "SDXL", 1024),
    "sd3": FamilyProfile("sd3", "Stable Diffusion 3", 1024, embeddings=False, size_step=16),
    "flux": FamilyProfile(
        "flux", "FLUX.1", 1024, negative_prompt=False, prompt_weights=False, embeddings=False, size_step=16
    ),
    "unknown": FamilyProfile("unknown", "unknown family", 512),
}


class UnknownModelError(LookupError):
    """`Catalogue.resolve` of a name that is neither a model nor an alias; str() says what exists."""


@dataclass(frozen=True, slots=True)
class DraftProfile:
    """`--draft`: few steps, low guidance and (optionally) a LoRA that makes the model few-step."""

    steps: int
    guidance_scale: float
    lora: str = ""


@dataclass(frozen=True, slots=True)
class CatalogueModel:
    """One model of the catalogue. `path` is what gen's loader gets (a folder, file, hub id or `tiny`)."""

    name: str
    path: str
    family: Family
    base_resolution: int
    aliases: tuple[str, ...] = ()
    description: str = ""
    steps: int | None = None  # None: gen.steps
    guidance_scale: float | None = None  # None: from --stylize
    scheduler: str = ""  # "": gen.scheduler / the model's own
    draft: DraftProfile | None = None
    source: str = "config"  # "default", "models_dir" or "config"

    @property
    def profile(self) -> FamilyProfile:
        return FAMILY_PROFILES[self.family]


def _resolve_dir(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def _list_files(folder: Path, suffixes: Iterable[str]) -> dict[str, Path]:
    """stem → file for the files of `folder` with one of `suffixes`, earlier suffixes winning a tie."""
    order = {s: i for i, s in enumerate(suffixes)}
    found: dict[str, tuple[int, Path]] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return {}
    for entry in entries:
        rank = order.get(entry.suffix.lower())
        if rank is None or entry.name.startswith(".") or not entry.is_file():
            continue
        if entry.stem not in found or rank < found[entry.stem][0]:
            found[entry.stem] = (rank, entry)
    return {stem: path for stem, (_, path) in sorted(found.items())}


def _listed(names: Iterable[str]) -> str:
    items = list(names)
    shown = ", ".join(items[:LISTED_MAX])
    return shown + (", …" if len(items) > LISTED_MAX else "")


@dataclass
class _Found:
    path: str
    family: Family
    resolution: int


def _scan_models(folder: Path, problems: list[str]) -> dict[str, _Found]:
    out: dict[str, _Found] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not (entry / "model_index.json").is_file():
                problems.append(f"{entry}: not a diffusers folder (no model_index.json), skipped")
                continue
            fam = modelinfo.folder_family(entry) or "unknown"
            res = modelinfo.folder_resolution(entry) or FAMILY_PROFILES[fam].base_resolution
            found = _Found(str(entry), fam, res)
        elif entry.suffix.lower() == ".safetensors" and entry.is_file():
            header = modelinfo.safetensors_header(entry)
            if header is None:
                problems.append(f"{entry}: unreadable safetensors header, skipped")
                continue
            fam = modelinfo.family_of_header(header)
            found = _Found(str(entry), fam, FAMILY_PROFILES[fam].base_resolution)
        elif entry.suffix.lower() == ".ckpt" and entry.is_file():
            fam = modelinfo.family(str(entry))
            found = _Found(str(entry), fam, FAMILY_PROFILES[fam].base_resolution)
        else:
            continue
        name = entry.name if entry.is_dir() else entry.stem
        if name in out:
            problems.append(f"{entry}: another model is already named {name}, skipped")
            continue
        out[name] = found
    return out


def _detect(ref: str) -> _Found:
    fam = modelinfo.family(ref)
    path = Path(ref).expanduser()
    res = None
    if path.is_dir():
        res = modelinfo.folder_resolution(path)
    elif not path.exists():
        snapshot = modelinfo.cached_snapshot(ref)
        res = modelinfo.folder_resolution(snapshot) if snapshot is not None else None
    return _Found(ref, fam, res or FAMILY_PROFILES[fam].base_resolution)


def _draft(table: ModelEntry | None) -> DraftProfile | None:
    if table is None or not (table.draft_lora or table.draft_steps is not None):
        return None
    return DraftProfile(
        steps=table.draft_steps if table.draft_steps is not None else DRAFT_STEPS,
        guidance_scale=table.draft_guidance if table.draft_guidance is not None else DRAFT_GUIDANCE,
        lora=table.draft_lora,
    )


def _model(name: str, found: _Found, table: ModelEntry | None, source: str) -> CatalogueModel:
    if table is None:
        return CatalogueModel(name, found.path, found.family, found.resolution, source=source)
    return CatalogueModel(
        name=name,
        path=found.path,
        family=found.family,
        base_resolution=table.base_resolution or found.resolution,
        aliases=tuple(dict.fromkeys(a for a in table.aliases if a and a != name)),
        description=table.description,
        steps=table.steps,
        guidance_scale=table.guidance_scale,
        scheduler=table.scheduler,
        draft=_draft(table),
        source=source,
    )


@dataclass(eq=False)
class Catalogue:
    """The bot's models (by name, in order: the default first), LoRAs, embeddings and problems."""

    models: dict[str, CatalogueModel]
    default_name: str
    lora_files: dict[str, Path] = field(default_factory=dict)
    embedding_files: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _aliases: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        aliases: dict[str, str] = {}
        for model in self.models.values():
            for alias in model.aliases:
                if alias in self.models:
                    raise ConfigError(
                        f"configuration key 'models.{model.name}.aliases': alias {alias!r} is the name "
                        f"of another model"
                    )
                if alias in aliases:
                    raise ConfigError(
                        f"configuration key 'models.{model.name}.aliases': alias {alias!r} is also an "
                        f"alias of model {aliases[alias]}"
                    )
                aliases[alias] = model.name
        self._aliases = aliases
        if self.default_name not in self.models:
            raise ConfigError(f"configuration key 'gen.model': no model named {self.default_name!r}")

    # --- building -------------------------------------------------------------------------------

    @classmethod
    def single(cls, name: str = TINY_MODEL, base_resolution: int | None = None) -> Catalogue:
        """A catalogue of one model and no LoRAs (what `ParserLimits()` uses)."""
        found = _detect(name)
        if base_resolution:
            found.resolution = base_resolution
        model = _model(name, found, None, "default")
        return cls({name: model}, name)

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalogue:
        gen = settings.gen
        problems: list[str] = []
        found = _scan_models(_resolve_dir(gen.models_dir), problems)
        tables: Mapping[str, ModelEntry] = settings.models
        models: dict[str, CatalogueModel] = {}
        for name, item in found.items():
            table = tables.get(name)
            if table is not None and table.path:
                continue  # the table re-points it: added below
            models[name] = _model(name, item, table, "models_dir")
        for name, table in tables.items():
            if table.path:
                models[name] = _model(name, _detect(table.path), table, "config")
            elif name not in found and name != gen.model:
                problems.append(
                    f"[models.{name}] has no path and there is no model {name} in {gen.models_dir}, skipped"
                )

        default = gen.model
        target = default if default in models else _alias_owner(models, default)
        if target is None:
            item = _detect(default)
            if gen.base_resolution:
                item.resolution = gen.base_resolution
            model = _model(default, item, tables.get(default), "default")
            models = {default: model, **models}
            target = default
        elif gen.base_resolution and not (tables.get(target) and tables[target].base_resolution):
            models[target] = replace(models[target], base_resolution=gen.base_resolution)
        models = {target: models[target], **{k: v for k, v in models.items() if k != target}}

        catalogue = cls(
            models,
            target,
            lora_files=_list_files(_resolve_dir(gen.loras_dir), LORA_SUFFIXES),
            embedding_files=_list_files(_resolve_dir(gen.embeddings_dir), EMBEDDING_SUFFIXES),
            problems=problems,
        )
        for model in models.values():
            if model.draft and model.draft.lora and model.draft.lora not in catalogue.lora_files:
                problems.append(
                    f"[models.{model.name}] draft_lora {model.draft.lora!r} is not in {gen.loras_dir}"
                )
        return catalogue

    # --- looking up -----------------------------------------------------------------------------

    @property
    def default(self) -> CatalogueModel:
        return self.models[self.default_name]

    def names(self) -> list[str]:
        return list(self.models)

    def aliases(self) -> dict[str, str]:
        """alias → model name."""
        return dict(self._aliases)

    def find(self, name_or_alias: str) -> CatalogueModel | None:
        """The model of that name or alias (exact, else the one case-insensitive match), or None."""
        key = name_or_alias.strip()
        if key in self.models:
            return self.models[key]
        if key in self._aliases:
            return self.models[self._aliases[key]]
        folded = key.casefold()
        matches = {n for n in self.models if n.casefold() == folded}
        matches |= {m for a, m in self._aliases.items() if a.casefold() == folded}
        return self.models[matches.pop()] if len(matches) == 1 else None

    def resolve(self, name_or_alias: str) -> CatalogueModel:
        """The model of that name or alias; UnknownModelError listing the models otherwise."""
        model = self.find(name_or_alias)
        if model is None:
            raise UnknownModelError(f"{name_or_alias!r} is not a known model: use {self.describe_names()}")
        return model

    def describe_names(self) -> str:
        """`tiny, anime (alias niji), …`: the models and their aliases, for messages."""
        parts = []
        for model in self.models.values():
            extra = f" (alias {', '.join(model.aliases)})" if model.aliases else ""
            parts.append(model.name + extra)
        return _listed(parts) or "none"

    def with_alias(self, alias: str) -> CatalogueModel | None:
        owner = self._aliases.get(alias)
        return self.models[owner] if owner is not None else None

    def loras(self) -> dict[str, Path]:
        """LoRA name (file stem) → file, from `gen.loras_dir`."""
        return dict(self.lora_files)

    def embeddings(self) -> dict[str, Path]:
        """Embedding name (file stem, the word that uses it) → file, from `gen.embeddings_dir`."""
        return dict(self.embedding_files)

    def describe_loras(self) -> str:
        return _listed(self.lora_files) or "none"


def _alias_owner(models: Mapping[str, CatalogueModel], alias: str) -> str | None:
    for model in models.values():
        if alias in model.aliases:
            return model.name
    return None
