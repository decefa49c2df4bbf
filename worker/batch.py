"""The batch in flight: which jobs are still wanted, and their throttled progress.

The engine's thread reads `dropped` (through `is_dropped`) between denoising steps; everything else runs
on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from db.records import ClaimedJob, ProgressUpdate
from imaginebot.core.domain import GenProgress
from imaginebot.core.gpu_time import apportion, request_units

PROGRESS_INTERVAL = 1.0  # seconds between progress writes of one job


class Batch:
    """What the worker knows about the batch in flight. `dropped` is read from the engine's thread."""

    def __init__(self, jobs: Sequence[ClaimedJob]) -> None:
        self.jobs = list(jobs)
        self.ids = [j.id for j in jobs]
        self.dropped: set[str] = set()  # cancelled, lease lost, or handed back: never store their results
        self.pending: dict[str, ProgressUpdate] = {}
        self.written_at: dict[str, float] = {}
        self.released = False
        self.started = time.monotonic()
        self.seconds = 0.0  # the engine's wall time, set when generation ends

    def describe(self) -> str:
        return ", ".join(self.ids)

    def on_generated(self, _: object) -> None:
        self.seconds = time.monotonic() - self.started

    def gpu_seconds(self) -> dict[str, float]:
        """The engine's time for this batch shared among all its jobs by their work (core.gpu_time)."""
        return apportion(self.seconds, {j.id: request_units(j.request()) for j in self.jobs})

    def live(self) -> list[str]:
        return [i for i in self.ids if i not in self.dropped]

    def is_dropped(self, job_id: str) -> bool:
        return job_id in self.dropped

    def on_progress(self, p: GenProgress) -> None:
        for job_id in p.job_ids:
            preview = p.previews.get(job_id) or (p.preview_jpeg if len(p.job_ids) == 1 else None)
            old = self.pending.get(job_id)
            if preview is None and old is not None:
                preview = old.preview_jpeg
            self.pending[job_id] = ProgressUpdate(job_id, p.percent, preview)

    def due_progress(self, now: float) -> list[ProgressUpdate]:
        due = [u for i, u in self.pending.items() if now - self.written_at.get(i, 0.0) >= PROGRESS_INTERVAL]
        for u in due:
            del self.pending[u.job_id]
            self.written_at[u.job_id] = now
        return [u for u in due if u.job_id not in self.dropped]
