"""Loading the engine for a model of the catalogue: its path, its scheduler, and the name the worker
claims jobs under (jobs carry the catalogue name; `gen.model` itself for the default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imaginebot.core.catalogue import Catalogue
from imaginebot.core.config import Settings

if TYPE_CHECKING:
    from gen.runner import ThreadedEngine


def load_model(settings: Settings, name: str | None = None) -> ThreadedEngine:
    """The engine for catalogue model `name` (default: `gen.model`). Blocking: run it in a thread.

    A name the catalogue does not know (a Hugging Face id, a path) is loaded as it is, as before."""
    from gen.runner import load_engine

    wanted = name or settings.gen.model
    entry = Catalogue.from_settings(settings).find(wanted)
    return load_engine(
        settings.gen,
        settings.data_dir,
        model_override=entry.path if entry is not None else wanted,
        model_id=wanted,
        scheduler=(entry.scheduler or None) if entry is not None else None,
    )
