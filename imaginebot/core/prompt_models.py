"""Which model and LoRAs a prompt asks for: `--model`/`--niji` (else the user's default, else the
bot's) and the `<lora:NAME:W>` tags, checked against the catalogue. Part of the prompt parser
(imaginebot.core.prompt); torch-free."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from imaginebot.core import prompt_messages as msg
from imaginebot.core.catalogue import Catalogue, CatalogueModel
from imaginebot.core.domain import LoraRef, UserDefaults
from imaginebot.core.prompt_messages import PromptError

_MAX_DIGITS = 30  # as the parser's other numbers
_LORA_TAG = re.compile(r"<lora:([^<>:]*)(?::([^<>]*))?>", re.IGNORECASE)
_LORA_START = re.compile(r"<lora:", re.IGNORECASE)
_LORA_WEIGHT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def choose_model(
    values: dict[str, str | int | float | bool], catalogue: Catalogue, defaults: UserDefaults
) -> tuple[CatalogueModel, bool]:
    """The model the prompt asks for (`--model`, `--niji`), else the user's default, else the bot's;
    and whether it was chosen (False: the configured default, which JobSpec.model leaves "")."""
    if "model" in values and "niji" in values:
        raise PromptError(msg.model_chosen_twice())
    if "model" in values:
        return catalogue.models[str(values["model"])], True
    if "niji" in values:
        niji = catalogue.with_alias("niji")
        if niji is None:
            raise PromptError(msg.no_niji_model(catalogue.describe_names()))
        return niji, True
    preferred = getattr(defaults, "model", None)
    if isinstance(preferred, str) and preferred:
        found = catalogue.find(preferred)
        if found is not None:
            return found, True
    return catalogue.default, False


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
