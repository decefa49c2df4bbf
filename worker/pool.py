"""The models one worker serves, and the pipelines it keeps loaded: an LRU of at most `max_loaded`.

A worker serves a set of *queue names* — the `jobs.model` values it claims: every catalogue model (or
those of `gen.serve_models`), plus `gen.model` itself where that is an alias of one. Names that mean the
same model share one engine (`keys`), so an alias never loads a model twice.

`get(name)` returns the engine for a name, loading it (off the event loop, by the app's `load`) when it
is not loaded; when `max_loaded` engines are loaded, the least recently used is closed first, so two
models' weights are never in memory at once beyond the limit. A model that fails to load is *broken*
for `BROKEN_FOR` seconds: `get` raises ModelUnavailable with the loader's one-line reason at once,
and the worker fails that model's jobs with it (refunded) instead of waiting on a file that is broken.

Which model to claim next is `claim_order` (a pure function): a model whose oldest job has waited
`switch_after` seconds since the model was last served here goes first (oldest first), then the loaded
models, then the others — so a worker keeps its loaded model busy and batches large, yet switches
before any model's jobs wait longer than `queue.model_switch_after` for it.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta

from imaginebot.core.domain import AsyncEngine

log = logging.getLogger(__name__)

BROKEN_FOR = 300.0  # seconds a model that failed to load is not tried again

Loader = Callable[[str], Awaitable[AsyncEngine]]


class ModelUnavailable(Exception):
    """The model cannot be loaded here; str() is the reason, one line, fit for the job's user."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"model {name} cannot be loaded: {reason}")
        self.name = name
        self.reason = reason


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


class EnginePool:
    """The engines of one worker, by key, least recently used first out."""

    def __init__(
        self,
        keys: Mapping[str, str],
        load: Loader,
        *,
        max_loaded: int = 1,
        loaded: Mapping[str, AsyncEngine] | None = None,
    ) -> None:
        """`keys`: queue name → engine key (the catalogue name); `load(key)` loads one engine."""
        if not keys:
            raise ValueError("a worker must serve at least one model")
        self.keys = dict(keys)
        self._load = load
        self.max_loaded = max(1, max_loaded)
        self._engines: OrderedDict[str, AsyncEngine] = OrderedDict(loaded or {})
        self._broken: dict[str, tuple[float, str]] = {}

    @classmethod
    def single(cls, engine: AsyncEngine) -> EnginePool:
        """A pool of one engine that is already loaded (the worker of one model, as in tests)."""

        async def never(key: str) -> AsyncEngine:  # the only key is loaded and never evicted
            raise ModelUnavailable(key, "not served by this worker")

        return cls({engine.model_id: engine.model_id}, never, loaded={engine.model_id: engine})

    @property
    def served(self) -> list[str]:
        """The queue names this worker claims (and announces)."""
        return list(self.keys)

    def is_loaded(self, name: str) -> bool:
        return self.keys.get(name) in self._engines

    @property
    def loaded(self) -> list[str]:
        """The loaded engines' keys, least recently used first."""
        return list(self._engines)

    def describe(self) -> str:
        return ", ".join(self.keys)

    async def get(self, name: str) -> AsyncEngine:
        """The engine for queue name `name`, loaded if need be (evicting the least recently used)."""
        key = self.keys[name]
        engine = self._engines.get(key)
        if engine is not None:
            self._engines.move_to_end(key)
            return engine
        broken = self._broken.get(key)
        if broken is not None and time.monotonic() < broken[0]:
            raise ModelUnavailable(key, broken[1])
        while len(self._engines) >= self.max_loaded:
            old, evicted = self._engines.popitem(last=False)
            log.info("unloading model %s to make room for %s", old, key)
            await _close(evicted)
        log.info("loading model %s", key)
        started = time.monotonic()
        try:
            engine = await self._load(key)
        except Exception as exc:
            reason = _one_line(exc)
            log.error("model %s cannot be loaded: %s", key, reason, exc_info=True)
            self._broken[key] = (time.monotonic() + BROKEN_FOR, reason)
            raise ModelUnavailable(key, reason) from exc
        self._broken.pop(key, None)
        log.info("loaded model %s in %.1f s", key, time.monotonic() - started)
        self._engines[key] = engine
        return engine

    async def aclose(self) -> None:
        while self._engines:
            await _close(self._engines.popitem(last=False)[1])


async def _close(engine: AsyncEngine) -> None:
    closer = getattr(engine, "aclose", None) or getattr(engine, "close", None)
    if closer is not None:
        result = closer()
        if inspect.isawaitable(result):
            await result


def claim_order(
    waiting: Mapping[str, datetime],
    loaded: Iterable[str],
    last_served: Mapping[str, datetime],
    now: datetime,
    switch_after: float,
) -> list[str]:
    """The queue names to try claiming from, best first (see the module docstring).

    `waiting`: each name with queued jobs → its oldest job's time; `loaded`: the names whose engine is
    loaded; `last_served`: when this worker last claimed each name."""
    overdue_at = now - timedelta(seconds=switch_after)
    warm = set(loaded)

    def since(name: str) -> datetime:
        served = last_served.get(name)
        return max(waiting[name], served) if served is not None else waiting[name]

    by_age = sorted(waiting, key=lambda name: (waiting[name], name))
    cold = [n for n in by_age if n not in warm]
    overdue = sorted((n for n in cold if since(n) <= overdue_at), key=lambda n: (since(n), n))
    return overdue + [n for n in by_age if n in warm] + [n for n in cold if n not in overdue]
