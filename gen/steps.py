"""The per-step callback of a pipeline call: progress, throttled previews, `--stop` and cancellation.

diffusers calls it after every denoising step (`callback_on_step_end`). It raises GenerationCancelled
when every job of the batch is cancelled, sets the pipeline's `_interrupt` once `--stop`'s step is
reached (diffusers then skips the remaining steps and still decodes), and reports a GenProgress with a
latent→RGB preview per job at most every `preview_interval` seconds. FLUX's latents are packed (2×2
patches as tokens): they are unpacked for the preview with the pipeline's own `_unpack_latents` at the
call's pixel size (`StepContext.size`). A preview that cannot be made is logged and left out; it never
costs the images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gen.family import PipelineFamily
from gen.preview import preview_jpeg
from imaginebot.core.domain import CancelCheck, GenerationCancelled, GenProgress, ProgressCallback

log = logging.getLogger(__name__)

StepCallback = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]


@dataclass
class StepContext:
    """What the per-step callback needs for one pipeline call."""

    job_ids: tuple[str, ...]
    offsets: tuple[int, ...]  # index of each job's first image in the batch
    stop_after: int | None  # interrupt after this many steps (--stop), None = run the whole schedule
    progress: ProgressCallback | None
    is_cancelled: CancelCheck | None
    family: PipelineFamily
    preview_interval: float
    last_preview: float = field(default_factory=time.monotonic)
    size: tuple[int, int] | None = None  # (height, width) of the call's pictures: FLUX unpacks with it

    def all_cancelled(self) -> bool:
        return self.is_cancelled is not None and all(safe_check(self.is_cancelled, j) for j in self.job_ids)


def step_callback(ctx: StepContext) -> StepCallback:
    def on_step_end(pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        step = i + 1
        if ctx.all_cancelled():
            raise GenerationCancelled("every job in the batch was cancelled")
        total = int(getattr(pipe, "num_timesteps", 0) or step)
        if ctx.stop_after is not None:
            total = min(total, ctx.stop_after)
            if step >= ctx.stop_after:
                pipe._interrupt = True  # diffusers skips the remaining steps and still decodes
        if ctx.progress is not None:
            previews: dict[str, bytes] = {}
            now = time.monotonic()
            if now - ctx.last_preview >= ctx.preview_interval:
                ctx.last_preview = now
                previews = _previews(ctx, pipe, tensors["latents"])
            first = previews.get(ctx.job_ids[0])
            try:
                ctx.progress(GenProgress(ctx.job_ids, min(step, total), total, first, previews))
            except Exception:  # a reporting problem must not cost the user their images
                log.exception("progress callback failed")
        return {}

    return on_step_end


def _previews(ctx: StepContext, pipe: Any, latents: Any) -> dict[str, bytes]:
    """Each job's preview from its first image's latents; none if they cannot be made."""
    try:
        if latents.ndim == 3:  # FLUX: packed
            if ctx.size is None:
                return {}
            latents = pipe._unpack_latents(latents, *ctx.size, pipe.vae_scale_factor)
        return {
            j: preview_jpeg(latents[o], family=ctx.family)
            for j, o in zip(ctx.job_ids, ctx.offsets, strict=True)
        }
    except Exception:
        log.exception("no preview this step")
        return {}


def safe_check(is_cancelled: CancelCheck, job_id: str) -> bool:
    """A failing cancellation check must not kill the batch: treat it as 'not cancelled'."""
    try:
        return bool(is_cancelled(job_id))
    except Exception:
        log.exception("is_cancelled(%s) failed", job_id)
        return False
