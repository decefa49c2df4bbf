"""Which model and LoRAs a prompt asks for: `--model`/`--niji`/`--v` (else the user's default, else the
bot's) and the `<lora:NAME:W>` tags, checked against the catalogue. Part of the prompt parser
(imaginebot.core.prompt); torch-free."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from imaginebot.core import prompt_messages as msg
from imaginebot.core import prompt_notes
from imaginebot.core.catalogue import Catalogue, CatalogueModel
from imaginebot.core.domain import LoraRef, UserDefaults
from imaginebot.core.prompt_messages import PromptError
from imaginebot.core.prompt_params import Parameters

_MAX_DIGITS = 30  # as the parser's other numbers
_LORA_TAG = re.compile(r"<lora:([^<>:]*)(?::([^<>]*))?>", re.IGNORECASE)
_LORA_START = re.compile(r"<lora:", re.IGNORECASE)
_LORA_WEIGHT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def choose_model(
    params: Parameters, catalogue: Catalogue, defaults: UserDefaults, notes: dict[str, str]
) -> tuple[CatalogueModel, bool]:
    """The model the prompt asks for (`--model`, `--niji`, `--v`), else the user's default, else the
    bot's; and whether it was chosen (False: the configured default, which JobSpec.model leaves "").

    A bare `--niji` needs a model with the alias `niji`. `--niji N` and `--v N` (`--version N`) use the
    model with the alias `nijiN` / `vN` (for `--v 6.1` also `v6`; for `--niji N` also `niji`) where the
    operator defines one, else the usual model, with a note saying so."""
    if "model" in params and "niji" in params:
        raise PromptError(msg.model_chosen_twice())
    version = params.get("version")
    if "model" in params:
        _overruled(params, "--model", notes)
        return catalogue.models[str(params.get("model"))], True
    niji = params.get("niji")
    if niji is True:
        model = catalogue.with_alias("niji")
        if model is None:
            raise PromptError(msg.no_niji_model(catalogue.describe_names()))
        _overruled(params, "--niji", notes)
        return model, True
    if niji is not None:
        model = catalogue.with_alias(f"niji{niji}") or catalogue.with_alias("niji")
        _overruled(params, "--niji", notes)
        if model is not None:
            return model, True
        notes["niji"] = prompt_notes.version_unmapped("--niji", str(niji), f"niji{niji} or niji")
    elif version is not None:
        wanted = f"v{version}"
        model = catalogue.with_alias(wanted) or catalogue.with_alias(wanted.split(".")[0])
        if model is not None:
            return model, True
        notes["version"] = prompt_notes.version_unmapped(params.spelled("version"), str(version), wanted)
    preferred = getattr(defaults, "model", None)
    if isinstance(preferred, str) and preferred:
        found = catalogue.find(preferred)
        if found is not None:
            return found, True
    return catalogue.default, False


def _overruled(params: Parameters, by: str, notes: dict[str, str]) -> None:
    version = params.get("version")
    if version is not None:
        notes["version"] = prompt_notes.version_overruled(params.spelled("version"), str(version), by)


def take_loras(text: str, catalogue: Catalogue, max_loras: int) -> tuple[str, list[LoraRef]]:
    """The text without its `<lora:NAME:W>` tags, and the LoRAs they ask for in order (checked)."""
    if "<" not in text:
        return text, []
    loras: list[LoraRef] = []

    def take(m: re.Match[str]) -> str:
        tag = m.group(0)
        name = m.group(1).strip()
        if not name:
            raise PromptError(msg.lora_not_valid(tag))
        weight = _lora_weight(m.group(2), tag)
        if name not in catalogue.lora_files:
            raise PromptError(msg.unknown_lora(name, catalogue.describe_loras()))
        for ref in loras:
            if ref.name == name:
                if ref.weight != weight:
                    raise PromptError(msg.lora_twice(name))
                return " "
        loras.append(LoraRef(name, weight))
        return " "

    rest = _LORA_TAG.sub(take, text)
    left = _LORA_START.search(rest)
    if left is not None:
        raise PromptError(msg.lora_not_valid(rest[left.start() :].split()[0]))
    if len(loras) > max_loras:
        raise PromptError(msg.too_many_loras(len(loras), max_loras))
    return rest, loras


def _lora_weight(raw: str | None, tag: str) -> float:
    if raw is None:
        return 1.0
    value = raw.strip()
    if not _LORA_WEIGHT.fullmatch(value) or len(value) > _MAX_DIGITS:
        raise PromptError(msg.lora_not_valid(tag))
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PromptError(msg.lora_not_valid(tag)) from None
    if not msg.LORA_WEIGHT_MIN <= number <= msg.LORA_WEIGHT_MAX:
        raise PromptError(msg.lora_out_of_range(tag))
    return float(number) + 0.0
