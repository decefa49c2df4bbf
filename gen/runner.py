"""Running the blocking engine off the event loop: one dedicated generation thread per device.

Diffusers pipelines are not re-entrant (two calls on one pipeline at once corrupt the scheduler's state),
so each engine gets a single-thread executor and every `await generate(...)` queues on it. torch releases
the GIL inside its kernels, so the event loop keeps running while images are generated; progress
callbacks are handed back to the loop with `call_soon_threadsafe` and therefore run on the loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imaginebot.core.domain import (
    CancelCheck,
    Engine,
    GenProgress,
    GenRequest,
    GenResult,
    JobKind,
    JobSpec,
    ProgressCallback,
)

if TYPE_CHECKING:
    from gen.safety import ImageModeration

log = logging.getLogger(__name__)


def cpu_threads() -> int:
    """Cores this process may use (honours CPU affinity and cgroup-pinned sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


GENERATION_NICENESS = 10


def _init_torch_thread(threads: int) -> None:
    """Runs once in the generation thread, before torch starts its CPU thread pool there.

    The thread (and the OpenMP workers it spawns, which inherit it) runs at a lower CPU priority, so
    that on a busy CPU the event loop — heartbeats, interactions, deliveries — always gets its turn
    first; the GPU path is unaffected.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), GENERATION_NICENESS)
    import torch

    torch.set_num_threads(threads)  # per-thread on OpenMP builds: set it in the generation thread itself


class ThreadedEngine:
    """An `AsyncEngine` over a blocking `Engine`, serialised on its own thread.

    If the awaiting task is cancelled, the generation is told to stop at its next step (every job then
    reads as cancelled) — the thread itself cannot be interrupted mid-kernel.
    """

    def __init__(self, engine: Engine, *, threads: int | None = None) -> None:
        self.engine = engine
        self.model_id = engine.model_id
        self.threads = threads or cpu_threads()
        self.moderation: ImageModeration | None = None  # the image check (gen.safety), if any
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="imaginebot-gen",
            initializer=_init_torch_thread,
            initargs=(self.threads,),
        )

    @property
    def native_resolution(self) -> int | None:
        value = getattr(self.engine, "native_resolution", None)
        return int(value) if value is not None else None

    async def generate(
        self,
        batch: list[GenRequest],
        progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenResult]:
        loop = asyncio.get_running_loop()
        abandoned = threading.Event()

        def report(p: GenProgress) -> None:
            if progress is None:
                return
            try:
                loop.call_soon_threadsafe(progress, p)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass

        def check(job_id: str) -> bool:
            return abandoned.is_set() or (is_cancelled is not None and is_cancelled(job_id))

        future = loop.run_in_executor(
            self._executor, self.engine.generate, batch, report if progress else None, check
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            abandoned.set()
            # Nobody awaits the result any more; retrieve it so asyncio does not log it as lost.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    async def moderate(self, results: list[GenResult]) -> list[GenResult]:
        """The results with image moderation's verdicts (`GenResult.flags`), checked on a thread of their
        own: the generation thread may already run the next batch (see worker.settle)."""
        if self.moderation is None:
            return results
        return await asyncio.to_thread(self.moderation.moderate, results)

    def warm_up(self) -> None:
        """One throw-away 1-step generation on the generation thread, before any job is claimed.

        A pipeline's first call is slow (lazy imports, kernel selection, thread-pool start-up: seconds
        on CPU); paying it here keeps the first real job's lease and the event loop out of it.
        """
        spec = JobSpec(prompt="warm-up", width=64, height=64, steps=1, guidance_scale=1.0)
        request = GenRequest("warm-up", JobKind.IMAGINE, spec, seed=0)
        started = time.monotonic()
        self._executor.submit(self.engine.generate, [request], None, None).result()
        log.info("engine warmed up in %.1f s", time.monotonic() - started)

    def close(self, wait: bool = True) -> None:
        """Stop the generation thread (after the running batch when `wait`)."""
        self._executor.shutdown(wait=wait, cancel_futures=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def defers_png(setting: str, device_type: str) -> bool:
    """Whether the engine leaves PNG encoding to the worker, which overlaps it with the next batch
    (`gen.pipelined_encoding`: auto = on a GPU; see benchmarks/RESULTS.md "pipelined worker")."""
    return setting == "on" or (setting == "auto" and device_type != "cpu")


def _folder(setting: str | Path | None) -> Path | None:
    """A `gen.*_dir` setting as a folder (relative: against the working directory); empty → None."""
    return Path(setting) if setting else None


def load_engine(
    gen_settings: Any,
    data_dir: str | Path,
    *,
    model_override: str | None = None,
    config_dir: str | Path | None = None,
    model_id: str | None = None,
    scheduler: str | None = None,
    moderation: Any | None = None,
) -> ThreadedEngine:
    """Load the model named by `gen.*` settings (or `model_override`) and wrap it for async use.

    Blocking (seconds for the tiny model, up to minutes for a large checkpoint): from async code call it
    with `await asyncio.to_thread(load_engine, ...)`. `config_dir` is the diffusers folder that supplies
    configs and tokenizer for a single-file checkpoint (see gen.loader). `model_id` is the name the
    worker claims jobs under (a catalogue name; default: what was loaded); `scheduler` overrides
    `gen.scheduler` (a catalogue model's own). `moderation` (the `moderation` settings) picks the image
    check (gen.safety); the pipeline's own safety checker never runs inside the pipeline.
    """
    import torch

    from gen.engine import DiffusersEngine
    from gen.loader import load_pipeline
    from gen.safety import image_moderation

    threads = cpu_threads()
    torch.set_num_threads(threads)
    model = model_override or gen_settings.model
    pipe = load_pipeline(
        model,
        device=gen_settings.device,
        dtype=gen_settings.dtype,
        scheduler=scheduler or gen_settings.scheduler,
        config_dir=config_dir or getattr(gen_settings, "config_dir", None) or None,
        data_dir=Path(data_dir),
        compile=bool(getattr(gen_settings, "compile", False)),
    )
    engine = DiffusersEngine(
        pipe,
        model_id=model_id or model,
        preview_interval=gen_settings.preview_interval,
        loras_dir=_folder(getattr(gen_settings, "loras_dir", None)),
        embeddings_dir=_folder(getattr(gen_settings, "embeddings_dir", None)),
        ip_adapter=str(getattr(gen_settings, "ip_adapter", "") or ""),
        controlnets=dict(getattr(gen_settings, "controlnets", None) or {}),
    )
    engine.defer_png = defers_png(getattr(gen_settings, "pipelined_encoding", "auto"), engine.device.type)
    threaded = ThreadedEngine(engine, threads=threads)
    threaded.moderation = image_moderation(pipe, moderation)
    threaded.warm_up()
    return threaded
