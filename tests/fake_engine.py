"""Engines for worker tests and benchmarks: no torch, solid-colour PNGs, controllable timing and failures.

`python -m fake_engine --config F [--worker-id W]` (with tests/ on PYTHONPATH; or
`python -m tests.fake_engine` from the repository root) runs a real worker process, the same `serve()`
as `imaginebot worker`, whose engine is a SleepEngine built from FAKE_ENGINE_* environment variables.
With FAKE_ENGINE_LOG=FILE, every batch the engine finishes appends one JSON line to FILE:
{"pid", "model", "jobs": [ids], "start", "end"} (wall-clock seconds), so a test can count how often
each job was generated across processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import time
import zlib
from typing import Any

from imaginebot.core.domain import (
    CancelCheck,
    Failure,
    GenerationCancelled,
    GenerationError,
    GenProgress,
    GenRequest,
    GenResult,
    JobKind,
    ProgressCallback,
    TransientGenerationError,
)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid RGB PNG of one colour, built with zlib only."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


class SleepEngine:
    """Takes `seconds` per batch in `steps` steps, reports progress, honours cancellation between steps.

    fail: "" (succeed), "generation" (raise GenerationError), "device" (raise TransientGenerationError),
    "crash" (raise RuntimeError), "prompt:TEXT" (the jobs whose prompt contains TEXT fail alone, out of
    memory, while the rest of the batch succeeds).
    `started` is set when a batch begins; `calls` lists the job ids of every batch.
    """

    def __init__(
        self,
        model_id: str = "tiny",
        *,
        seconds: float = 0.0,
        steps: int = 4,
        fail: str = "",
        size: int = 8,
        log_path: str | None = None,
    ) -> None:
        self.model_id = model_id
        self.log_path = log_path
        self.seconds = seconds
        self.steps = max(1, steps)
        self.fail = fail
        self.size = size
        self.calls: list[list[str]] = []
        self.cancelled = 0  # batches stopped by cancellation
        self.started = asyncio.Event()

    async def generate(
        self,
        batch: list[GenRequest],
        progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenResult]:
        ids = tuple(r.job_id for r in batch)
        self.calls.append(list(ids))
        start = time.time()
        self.started.set()
        for step in range(1, self.steps + 1):
            if is_cancelled is not None and all(is_cancelled(i) for i in ids):
                self.cancelled += 1
                raise GenerationCancelled()
            if self.seconds:
                await asyncio.sleep(self.seconds / self.steps)
            if progress is not None:
                previews = {i: b"\xff\xd8jpeg" + i.encode() for i in ids}
                progress(GenProgress(ids, step, self.steps, previews=previews))
        if self.fail == "generation":
            raise GenerationError("out of memory for this image size")
        if self.fail == "device":
            raise TransientGenerationError("CUDA error: an illegal memory access was encountered")
        if self.fail == "crash":
            raise RuntimeError("engine crashed")
        results = [self._result(r) for r in batch if not (is_cancelled and is_cancelled(r.job_id))]
        if self.log_path:
            line = {"pid": os.getpid(), "model": self.model_id, "jobs": list(ids), "start": start}
            line["end"] = time.time()
            _append_line(self.log_path, json.dumps(line))
        return results

    def _result(self, r: GenRequest) -> GenResult:
        width, height = self.image_size(r)
        if self.fail.startswith("prompt:") and self.fail.removeprefix("prompt:") in r.spec.prompt:
            return GenResult(r.job_id, [], width, height, Failure.OUT_OF_MEMORY, f"{width}×{height}")
        images = [solid_png(width, height, ((r.seed + k) % 256, 64, 128)) for k in range(r.image_count)]
        return GenResult(r.job_id, images, width, height)

    def image_size(self, r: GenRequest) -> tuple[int, int]:
        """An edit's images have its plan's size (`GenRequest.size`); the other kinds are `size` squares
        (twice that for U<k>), whatever their spec says, to keep the images small."""
        if r.edit is not None:
            return r.size
        side = self.size * (2 if r.kind is JobKind.UPSCALE else 1)
        return side, side


def _append_line(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:  # one short O_APPEND write: lines never interleave
        f.write(line + "\n")


def from_env(settings: Any) -> SleepEngine:
    """The engine of `python -m fake_engine`: a SleepEngine configured by FAKE_ENGINE_* variables."""
    return SleepEngine(
        settings.gen.model,
        seconds=float(os.environ.get("FAKE_ENGINE_SECONDS", "0")),
        steps=int(os.environ.get("FAKE_ENGINE_STEPS", "4")),
        fail=os.environ.get("FAKE_ENGINE_FAIL", ""),
        log_path=os.environ.get("FAKE_ENGINE_LOG") or None,
    )


def main(argv: list[str] | None = None) -> int:
    """A worker process with this engine: `python -m fake_engine --config F [--worker-id W]`."""
    import argparse
    import sys

    from db.session import DatabaseError
    from imaginebot.app.logs import setup_logging
    from imaginebot.app.worker import serve
    from imaginebot.core.config import ConfigError, load_settings

    parser = argparse.ArgumentParser(prog="python -m fake_engine", description=main.__doc__)
    parser.add_argument("--config", metavar="F")
    parser.add_argument("--worker-id")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        setup_logging(settings.app.log_level)
        return asyncio.run(serve(settings, lambda: from_env(settings), worker_id=args.worker_id))
    except (ConfigError, DatabaseError) as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
