"""Loading engines for the models of the catalogue: one model (`load_model`), or the pool a worker serves
its models from (`engine_pool`: every catalogue model, or those of `gen.serve_models`, at most
`gen.max_loaded_models` loaded at once). Jobs carry the catalogue name (`gen.model` itself for the
default), and that is the name a worker claims them under."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from imaginebot.core.catalogue import Catalogue
from imaginebot.core.config import ConfigError, Settings
from worker.pool import EnginePool, ModelUnavailable

if TYPE_CHECKING:
    from gen.runner import ThreadedEngine
    from imaginebot.core.domain import AsyncEngine

log = logging.getLogger(__name__)


def load_model(
    settings: Settings, name: str | None = None, catalogue: Catalogue | None = None
) -> ThreadedEngine:
    """The engine for catalogue model `name` (default: `gen.model`). Blocking: run it in a thread.

    A name the catalogue does not know (a Hugging Face id, a path) is loaded as it is, as before."""
    from gen.runner import load_engine

    wanted = name or settings.gen.model
    entry = (catalogue or Catalogue.from_settings(settings)).find(wanted)
    return load_engine(
        settings.gen,
        settings.data_dir,
        model_override=entry.path if entry is not None else wanted,
        model_id=wanted,
        scheduler=(entry.scheduler or None) if entry is not None else None,
        moderation=settings.moderation,
    )


def served_models(settings: Settings, catalogue: Catalogue) -> dict[str, str]:
    """The queue names a worker claims → the catalogue model each means (see worker.pool).

    `gen.serve_models` (names or aliases) limits them; a name the catalogue lacks is a ConfigError."""
    names = list(catalogue.models)
    if settings.gen.serve_models:
        names = []
        for wanted in settings.gen.serve_models:
            model = catalogue.find(wanted)
            if model is None:
                raise ConfigError(
                    f"configuration key 'gen.serve_models': no model named {wanted!r}; "
                    f"the models are: {catalogue.describe_names()}"
                )
            names.append(model.name)
    keys = {name: name for name in names}
    default = settings.gen.model
    if catalogue.default_name in keys and default != catalogue.default_name:  # gen.model is an alias
        keys[default] = catalogue.default_name
    return keys


async def engine_pool(settings: Settings) -> EnginePool:
    """The worker's engines, with its first model (the default when served) loaded already.

    Problems of the catalogue (a broken file in `gen.models_dir`…) are logged and skipped. A first model
    that cannot be loaded is fatal only when it is the only one served (raises the loader's error)."""
    catalogue = Catalogue.from_settings(settings)
    for problem in catalogue.problems:
        log.warning("model catalogue: %s", problem)
    keys = served_models(settings, catalogue)

    async def load(name: str) -> AsyncEngine:
        engine: AsyncEngine = await asyncio.to_thread(load_model, settings, name, catalogue)
        return engine

    pool = EnginePool(keys, load, max_loaded=settings.gen.max_loaded_models)
    first = next(iter(keys))
    try:
        await pool.get(first)
    except ModelUnavailable as exc:
        if len(set(keys.values())) == 1:
            raise exc.__cause__ or exc from None
        log.warning("%s; serving the other models", exc)
    return pool
