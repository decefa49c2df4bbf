"""DiffusersEngine: turns a batch of compatible GenRequests into PNGs with one pipeline call.

Design points (see also INTERFACE.md "Images and seeds"):

- One forward pass per batch. Each job's conditioning comes from the pipeline's own `encode_prompt`
  (gen.conditioning) and is concatenated across jobs; image k of a job gets
  `torch.Generator("cpu").manual_seed(seed + k - 1)` in a generator list. For one job with a plain prompt
  the images are bit-identical to `pipe(prompt, negative_prompt=…, num_images_per_prompt=4,
  generator=[…])`; across jobs they match single runs up to batch-size numerics.
- Variations and upscales are img2img passes through `AutoPipelineForImage2Image.from_pipe` (same
  modules, no second copy of the weights), each source encoded once (gen.latents).
- `--stop` runs the full schedule of `steps` but interrupts the denoising loop after
  `effective_steps` (diffusers skips the remaining steps when `_interrupt` is set, then decodes), so the
  picture is the still-noisy intermediate. It applies to txt2img; variations/upscales ignore it.
- `--tile` switches the UNet's and VAE's convolutions to circular padding for the call (gen.tiling).
- `--chaos` perturbs each image's text embedding and starting noise with seeded noise scaled by
  chaos/100 (gen.conditioning, gen.latents), so the four images differ more; chaos 0 is plain diffusers.
- Progress: after every denoising step; a latent→RGB preview per job at most every `preview_interval`
  seconds. Cancellation is checked between steps: if every job of the batch is cancelled the call stops
  and raises GenerationCancelled; a partly cancelled batch runs on (results for all jobs are returned and
  the caller drops the cancelled ones).
- Failures that would repeat are isolated, so that one job cannot sink its batch: CUDA out of memory
  frees the cache and retries the batch in halves, and a single job once more with VAE tiling/slicing
  (large upscales decode tile by tile); bad input (diffusers' checks, a source image that won't decode)
  is split the same way. A job that still fails alone gets a result with `failure` (out_of_memory,
  bad_input) and no images; the others keep theirs. Any other error (the device, its driver) is a
  TransientGenerationError with a one-line message, for the worker to retry; the traceback goes to the log.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from gen.conditioning import Conditioning, PromptEncoder, chaos_embeds
from gen.latents import (
    chaos_latents,
    decode_per_job,
    encode_source,
    generators,
    noise_latents,
    source_image,
)
from gen.preview import preview_jpeg
from gen.tiling import seamless
from imaginebot.core.domain import (
    UPSCALE_FACTOR,
    UPSCALE_STRENGTH,
    VARIATION_STRENGTHS,
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
    VariationStrength,
)
from imaginebot.core.images import open_image, png_bytes

log = logging.getLogger(__name__)


def _one_line(exc: BaseException, *, with_type: bool = True) -> str:
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return (f"{type(exc).__name__}: {first}".rstrip(": ") if with_type else first or type(exc).__name__)[:300]


def _failed(r: GenRequest, failure: Failure, detail: str) -> GenResult:
    """The result of a job that failed alone, in a way that would repeat: no images, not retried."""
    return GenResult(r.job_id, [], r.spec.width, r.spec.height, failure=failure, detail=detail)


@dataclass
class _StepContext:
    """What the per-step callback needs for one pipeline call."""

    job_ids: tuple[str, ...]
    offsets: tuple[int, ...]  # index of each job's first image in the batch
    stop_after: int | None  # interrupt after this many steps (--stop), None = run the whole schedule
    progress: ProgressCallback | None
    is_cancelled: CancelCheck | None
    sdxl: bool
    preview_interval: float
    last_preview: float = field(default_factory=time.monotonic)


class DiffusersEngine:
    """Engine protocol implementation over a loaded SD 1.x / SDXL text-to-image pipeline."""

    def __init__(self, pipe_t2i: Any, *, model_id: str, preview_interval: float = 1.5) -> None:
        self.pipe = pipe_t2i
        self.model_id = model_id
        self.preview_interval = preview_interval
        self.sdxl = getattr(pipe_t2i, "text_encoder_2", None) is not None
        self._encoder = PromptEncoder(pipe_t2i)
        self._img2img: Any = None
        self._lock = threading.Lock()
        self._low_memory = False

    @property
    def device(self) -> torch.device:
        return torch.device(self.pipe._execution_device)

    @property
    def native_resolution(self) -> int:
        """The model's native size in pixels: 512 for SD 1.x, 1024 for SDXL (for `gen.base_resolution` 0)."""
        return int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)

    @property
    def img2img(self) -> Any:
        """The img2img pipeline sharing this pipeline's modules (built on first use)."""
        if self._img2img is None:
            from gen.loader import img2img_pipeline

            self._img2img = img2img_pipeline(self.pipe)
        return self._img2img

    # -- the Engine protocol ---------------------------------------------------------------------

    def generate(
        self,
        batch: list[GenRequest],
        progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenResult]:
        """Generate every request of `batch` (equal `batch_key()`s) in one pipeline call. Blocking."""
        if not batch:
            return []
        key = batch[0].batch_key()
        if any(r.batch_key() != key for r in batch[1:]):
            raise ValueError("all requests in a batch must share GenRequest.batch_key()")
        with self._lock:
            try:
                return self._generate_or_split(batch, progress, is_cancelled)
            except (GenerationCancelled, GenerationError):
                raise
            except Exception as exc:  # the device, its driver, or a bug: another try may succeed
                log.exception("generation failed for jobs %s", [r.job_id for r in batch])
                raise TransientGenerationError(f"image generation failed: {_one_line(exc)}") from exc
            finally:
                self.pipe._interrupt = False
                if self.device.type == "cpu" and batch[0].kind is JobKind.UPSCALE:
                    _trim_heap()

    # -- failures: out of memory, bad input -----------------------------------------------------

    def _generate_or_split(
        self, batch: list[GenRequest], progress: ProgressCallback | None, is_cancelled: CancelCheck | None
    ) -> list[GenResult]:
        """Run the batch; on a failure that would repeat, isolate it: halves are retried, and a job that
        fails alone gets a failed result while the rest of the batch keeps its images."""
        bad_input: Exception | None = None
        try:
            return self._run(batch, progress, is_cancelled)
        except torch.cuda.OutOfMemoryError:
            pass  # leave the except block first so the failed call's tensors can be freed
        except (ValueError, TypeError) as exc:  # diffusers' own input checks, a source that won't decode
            bad_input = exc
        self._free_memory()
        if len(batch) > 1:
            mid = len(batch) // 2
            what = "bad input" if bad_input else "out of GPU memory"
            log.warning("%s in a batch of %d jobs; retrying in halves", what, len(batch))
            return self._generate_or_split(batch[:mid], progress, is_cancelled) + self._generate_or_split(
                batch[mid:], progress, is_cancelled
            )
        r = batch[0]
        if bad_input is not None:
            log.warning("job %s: the engine cannot use its input: %s", r.job_id, _one_line(bad_input))
            return [_failed(r, Failure.BAD_INPUT, _one_line(bad_input, with_type=False))]
        if not self._low_memory:
            log.warning("out of GPU memory for one job; retrying with VAE tiling")
            try:
                with self._memory_savers():
                    return self._run(batch, progress, is_cancelled)
            except torch.cuda.OutOfMemoryError:
                pass
            self._free_memory()
        log.warning("job %s: out of GPU memory even alone", r.job_id)
        return [_failed(r, Failure.OUT_OF_MEMORY, f"{r.spec.width}×{r.spec.height}")]

    @staticmethod
    def _free_memory() -> None:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @contextmanager
    def _memory_savers(self) -> Iterator[None]:
        vae = self.pipe.vae
        self._low_memory = True
        vae.enable_tiling()
        vae.enable_slicing()
        try:
            yield
        finally:
            vae.disable_tiling()
            vae.disable_slicing()
            self._low_memory = False

    # -- one pipeline call -----------------------------------------------------------------------

    def _run(
        self, batch: list[GenRequest], progress: ProgressCallback | None, is_cancelled: CancelCheck | None
    ) -> list[GenResult]:
        job_ids = tuple(r.job_id for r in batch)
        if is_cancelled is not None and all(_safe_check(is_cancelled, j) for j in job_ids):
            raise GenerationCancelled("every job in the batch was cancelled")
        offsets, n = [], 0
        for r in batch:
            offsets.append(n)
            n += r.image_count
        first = batch[0]
        img2img = first.kind in (JobKind.VARIATION, JobKind.UPSCALE)
        spec = first.spec
        stop = spec.effective_steps if (not img2img and spec.effective_steps < spec.steps) else None
        ctx = _StepContext(
            job_ids, tuple(offsets), stop, progress, is_cancelled, self.sdxl, self.preview_interval
        )
        sizes = [r.image_count for r in batch]
        with (
            torch.no_grad(),
            seamless([self.pipe.unet, self.pipe.vae], spec.tile),
            decode_per_job(self.pipe.vae, sizes),
        ):
            images = self._img2img_call(batch, ctx) if img2img else self._txt2img_call(batch, ctx)
        results, i = [], 0
        for r in batch:
            mine = images[i : i + r.image_count]
            i += r.image_count
            results.append(GenResult(r.job_id, [png_bytes(im) for im in mine], mine[0].width, mine[0].height))
        return results

    def _conditioning(self, batch: list[GenRequest], do_cfg: bool, chaos: bool) -> Conditioning:
        conds = []
        for r in batch:
            cond = self._encoder.encode(r.spec, r.image_count, do_cfg, self.device)
            if chaos:
                seeds = [r.seed + k for k in range(r.image_count)]
                cond.embeds = chaos_embeds(cond.embeds, seeds, r.spec.chaos)
            conds.append(cond)
        return Conditioning.concat(conds)

    def _do_cfg(self, guidance_scale: float) -> bool:
        return guidance_scale > 1 and self.pipe.unet.config.time_cond_proj_dim is None

    def _txt2img_call(self, batch: list[GenRequest], ctx: _StepContext) -> list[Image.Image]:
        spec = batch[0].spec
        cond = self._conditioning(batch, self._do_cfg(spec.guidance_scale), chaos=True)
        seeds = [r.seed + k for r in batch for k in range(r.image_count)]
        chaos = [r.spec.chaos for r in batch for _ in range(r.image_count)]
        gens = generators(seeds)
        latents = None
        if any(chaos):  # otherwise let the pipeline draw the very same noise itself
            noise = noise_latents(self.pipe, gens, spec.height, spec.width, cond.embeds.dtype, self.device)
            latents = chaos_latents(noise, seeds, chaos)
        out = self.pipe(
            **cond.pipeline_kwargs(),
            width=spec.width,
            height=spec.height,
            num_inference_steps=spec.steps,
            guidance_scale=spec.guidance_scale,
            num_images_per_prompt=1,
            generator=gens,
            latents=latents,
            output_type="pil",
            callback_on_step_end=self._callback(ctx),
            callback_on_step_end_tensor_inputs=["latents"],
        )
        return list(out.images)

    def _img2img_call(self, batch: list[GenRequest], ctx: _StepContext) -> list[Image.Image]:
        first = batch[0]
        spec = first.spec
        upscale = first.kind is JobKind.UPSCALE
        default = UPSCALE_STRENGTH if upscale else VARIATION_STRENGTHS[VariationStrength.SUBTLE]
        strength = first.strength if first.strength is not None else default
        pipe = self.img2img
        inits, gens = [], []
        for r in batch:
            if r.source_png is None:
                raise ValueError(f"{r.kind.value} job {r.job_id} has no source image")
            src = open_image(r.source_png)
            w, h = (spec.width, spec.height)
            if upscale:
                w, h = src.width * UPSCALE_FACTOR, src.height * UPSCALE_FACTOR
            mine = generators([r.seed + k for k in range(r.image_count)])
            inits.append(encode_source(pipe, source_image(src, w, h), mine, self.device))
            gens.extend(mine)
        sizes = {tuple(t.shape[-2:]) for t in inits}
        if len(sizes) > 1:
            raise ValueError("img2img sources of one batch must have the same size")
        cond = self._conditioning(batch, self._do_cfg(spec.guidance_scale), chaos=False)
        out = pipe(
            **cond.pipeline_kwargs(),
            image=torch.cat(inits).to(cond.embeds.dtype),
            strength=strength,
            num_inference_steps=spec.steps,
            guidance_scale=spec.guidance_scale,
            num_images_per_prompt=1,
            generator=gens,
            output_type="pil",
            callback_on_step_end=self._callback(ctx),
            callback_on_step_end_tensor_inputs=["latents"],
        )
        return list(out.images)

    # -- per-step callback -----------------------------------------------------------------------

    def _callback(self, ctx: _StepContext) -> Any:
        def on_step_end(pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            step = i + 1
            if ctx.is_cancelled is not None and all(_safe_check(ctx.is_cancelled, j) for j in ctx.job_ids):
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
                    latents = tensors["latents"]
                    previews = {
                        j: preview_jpeg(latents[o], sdxl=ctx.sdxl)
                        for j, o in zip(ctx.job_ids, ctx.offsets, strict=True)
                    }
                first = previews.get(ctx.job_ids[0])
                try:
                    ctx.progress(GenProgress(ctx.job_ids, min(step, total), total, first, previews))
                except Exception:  # a reporting problem must not cost the user their images
                    log.exception("progress callback failed")
            return {}

        return on_step_end


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def _trim_heap() -> None:
    """Give freed activation memory back to the OS (glibc keeps it otherwise, and RSS only grows).

    Done after upscales only: a 2× upscale needs four times the activations of a grid, and without
    this a CPU worker's resident memory would stay there. Grids and variations repeat the same sizes,
    so their memory is kept for the next batch (returning it costs page faults on the next call).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _safe_check(is_cancelled: CancelCheck, job_id: str) -> bool:
    """A failing cancellation check must not kill the batch: treat it as 'not cancelled'."""
    try:
        return bool(is_cancelled(job_id))
    except Exception:
        log.exception("is_cancelled(%s) failed", job_id)
        return False
