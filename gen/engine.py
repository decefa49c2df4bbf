"""DiffusersEngine: turns a batch of compatible GenRequests into PNGs with one pipeline call.

Design points (see also INTERFACE.md "Images and seeds" and "Editing an image"):

- One forward pass per batch; each job's conditioning (gen.conditioning) concatenated across jobs; image k
  of a job seeded `seed + k - 1`. One job with a plain prompt is bit-identical to `pipe(prompt,
  negative_prompt=…, num_images_per_prompt=4, generator=[…])`; several match up to batch-size numerics.
- Variations and upscales (U1…U4, Upscale (Subtle) / (Creative)) are img2img passes through
  `AutoPipelineForImage2Image.from_pipe` (same modules, no second copy of the weights), each source
  encoded once (gen.latents); sizes and strengths in gen.sources. Outputs larger than twice the
  model's native size a side use VAE tiling for the call.
- The edits Vary (Region), Zoom Out, Pan and Make Square are inpainting passes through
  `AutoPipelineForInpainting.from_pipe` (gen.inpaint): each job's canvas and mask given once per image,
  at strength 1 (or the job's), each image then pasted back over the canvas so the kept area holds the
  source's own pixels. One job's images are those of the plain `inpaint(prompt, image=[canvas] * 4,
  mask_image=[mask] * 4, num_images_per_prompt=4, generator=[…])` + `paste_back`; repeated VAE
  encodes of one picture are done once (gen.latents.encode_once) without changing them.
- A dedicated inpainting model (9-channel UNet) cannot run the text-to-image or img2img pipelines, so
  there every job goes through the inpainting pipeline with a white mask: imagine/reroll over a grey
  canvas at strength 1 (the same starting noise as txt2img, `--chaos` included), variations and
  upscales over the resized source at the job's strength.
- `--stop` interrupts the denoising loop after `effective_steps` of `steps` (the still-noisy picture is
  decoded). Jobs with a source image ignore it.
- `--tile`: circular padding in the UNet's and VAE's convolutions (gen.tiling; SD3/FLUX: the VAE's).
- SD 3/3.5 and FLUX.1 (gen.family) run the same way through their own pipelines.
- `--chaos` perturbs each image's text embedding and starting noise by chaos/100 (chaos 0: plain diffusers).
- LoRAs and embeddings (gen.lora, gen.embeddings): a batch's LoRAs (one set and weights per batch) are
  loaded once into the pipeline and switched on with `set_adapters(names, weights)` before the call, so
  the images equal plain diffusers' `load_lora_weights` + `set_adapters`; a batch without LoRAs runs with
  every adapter disabled (bit-identical to before any was loaded). A missing or broken LoRA fails the
  batch's jobs with bad_input, naming it. Textual-inversion embeddings are loaded at construction.
- Image prompts (gen.image_prompts): IP-Adapter at the --iw scale with `gen.ip_adapter` (embeddings once
  per job, returned to be stored), else img2img from the first image at the --iw strength.
- Progress: after every denoising step; a latent→RGB preview per job at most every `preview_interval`
  seconds (gen.steps). With `defer_png` the results carry the decoded pictures, and the PNG encoding
  is the caller's, off this thread (the pipelined worker: worker.loop). Cancellation is checked between
  steps: if every job of the batch is cancelled the call stops and raises GenerationCancelled; a partly
  cancelled batch runs on (results for all jobs are returned and the caller drops the cancelled ones).
- Failures that would repeat are isolated, so that one job cannot sink its batch: CUDA out of memory
  frees the cache and retries the batch in halves, and a single job once more with VAE tiling/slicing
  (large upscales decode tile by tile); bad input (diffusers' checks, a source image that won't decode,
  an edit without its plan) is split the same way. A job that still fails alone gets a result with
  `failure` (out_of_memory, bad_input) and no images; the others keep theirs. Any other error (device,
  driver) is a TransientGenerationError (one line, for the worker to retry; the traceback is logged).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gen import inpaint
from gen.conditioning import Conditioning, PromptEncoder, chaos_embeds
from gen.embeddings import load_embeddings
from gen.family import denoiser, is_transformer_family, pipeline_family
from gen.image_prompts import ImagePrompts, as_img2img
from gen.inpaint import InpaintInput
from gen.latents import (
    chaos_latents,
    decode_per_job,
    encode_once,
    encode_source,
    generators,
    noise_latents,
    pack_latents,
    source_image,
)
from gen.loader import INPAINT_CHANNELS, ModelLoadError
from gen.lora import LoraError, LoraSet
from gen.memory import free_memory, memory_savers, trim_heap, vae_tiling
from gen.sources import img2img_size, img2img_strength, open_source
from gen.steps import StepContext, step_callback
from gen.tiling import seamless
from imaginebot.core.domain import (
    CancelCheck,
    Failure,
    GenerationCancelled,
    GenerationError,
    GenRequest,
    GenResult,
    ProgressCallback,
    TransientGenerationError,
)
from imaginebot.core.images import png_bytes

log = logging.getLogger(__name__)

TILED_ABOVE = 2  # × the native size, a side: larger outputs encode/decode with VAE tiling


def _one_line(exc: BaseException, *, with_type: bool = True) -> str:
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return (f"{type(exc).__name__}: {first}".rstrip(": ") if with_type else first or type(exc).__name__)[:300]


def _failed(r: GenRequest, failure: Failure, detail: str) -> GenResult:
    """The result of a job that failed alone, in a way that would repeat: no images, not retried."""
    width, height = r.size
    return GenResult(r.job_id, [], width, height, failure=failure, detail=detail)


class DiffusersEngine:
    """Engine protocol implementation over a loaded SD 1.x/2.x, SDXL, SD3 or FLUX text-to-image pipeline."""

    def __init__(
        self,
        pipe_t2i: Any,
        *,
        model_id: str,
        preview_interval: float = 1.5,
        loras_dir: str | Path | None = None,
        embeddings_dir: str | Path | None = None,
        ip_adapter: str = "",
        controlnets: dict[str, str] | None = None,
    ) -> None:
        self.pipe = pipe_t2i
        self.model_id = model_id
        self.preview_interval = preview_interval
        self.family = pipeline_family(pipe_t2i)
        self.loras = LoraSet(pipe_t2i, Path(loras_dir) if loras_dir is not None else None)
        # Before the prompt encoder exists: embeddings add tokens to the tokenizer and text encoder.
        self.embeddings = load_embeddings(
            pipe_t2i, Path(embeddings_dir) if embeddings_dir is not None else None
        )
        self._encoder = PromptEncoder(pipe_t2i)
        self.image_prompts = ImagePrompts(pipe_t2i, ip_adapter, controlnets)
        self._img2img: Any = None
        self._inpaint: Any = None
        self._lock = threading.Lock()
        self._low_memory = False
        self.defer_png = False  # True: results carry pictures, PNG-encoded by the caller (pipelining)

    @property
    def device(self) -> torch.device:
        return torch.device(self.pipe._execution_device)

    @property
    def native_resolution(self) -> int:
        """The model's native size in pixels: 512 for SD 1.x, 1024 for SDXL, SD3 and FLUX (for
        `gen.base_resolution` 0). FLUX's transformer has no sample size; its pipeline fixes one."""
        sample = denoiser(self.pipe).config.get("sample_size") or self.pipe.default_sample_size
        return int(sample) * int(self.pipe.vae_scale_factor)

    @property
    def inpainting_model(self) -> bool:
        """A dedicated inpainting checkpoint (9-channel UNet): every job runs through `inpaint`."""
        unet = getattr(self.pipe, "unet", None)
        return unet is not None and int(unet.config.in_channels) == INPAINT_CHANNELS

    @property
    def img2img(self) -> Any:
        """The img2img pipeline sharing this pipeline's modules (built on first use)."""
        if self._img2img is None:
            from gen.loader import img2img_pipeline

            self._img2img = img2img_pipeline(self.pipe)
        return self._img2img

    @property
    def inpaint(self) -> Any:
        """The inpainting pipeline sharing this pipeline's modules (built on first use)."""
        if self._inpaint is None:
            from gen.loader import inpaint_pipeline

            self._inpaint = inpaint_pipeline(self.pipe)
        return self._inpaint

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
                try:
                    self.loras.activate(batch[0].spec.loras)
                    self.image_prompts.activate(batch)
                except (LoraError, ModelLoadError) as exc:  # the same for every job and every retry
                    log.warning("jobs %s: %s", [r.job_id for r in batch], exc)
                    return [_failed(r, Failure.BAD_INPUT, str(exc)) for r in batch]
                return self._generate_or_split(batch, progress, is_cancelled)
            except (GenerationCancelled, GenerationError):
                raise
            except Exception as exc:  # the device, its driver, or a bug: another try may succeed
                log.exception("generation failed for jobs %s", [r.job_id for r in batch])
                raise TransientGenerationError(f"image generation failed: {_one_line(exc)}") from exc
            finally:
                for pipe in (self.pipe, self._img2img, self._inpaint):
                    if pipe is not None:
                        pipe._interrupt = False
                if self.device.type == "cpu" and batch[0].kind.is_upscale:
                    trim_heap()

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
        free_memory()
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
            self._low_memory = True
            try:
                with memory_savers(self.pipe.vae):
                    return self._run(batch, progress, is_cancelled)
            except torch.cuda.OutOfMemoryError:
                pass
            finally:
                self._low_memory = False
            free_memory()
        log.warning("job %s: out of GPU memory even alone", r.job_id)
        width, height = r.size
        return [_failed(r, Failure.OUT_OF_MEMORY, f"{width}×{height}")]

    # -- one pipeline call -----------------------------------------------------------------------

    def _run(
        self, batch: list[GenRequest], progress: ProgressCallback | None, is_cancelled: CancelCheck | None
    ) -> list[GenResult]:
        job_ids = tuple(r.job_id for r in batch)
        offsets, n = [], 0
        for r in batch:
            offsets.append(n)
            n += r.image_count
        first = batch[0]
        spec = first.spec
        txt2img = not first.kind.needs_source
        stop = spec.effective_steps if (txt2img and spec.effective_steps < spec.steps) else None
        ctx = StepContext(
            job_ids, tuple(offsets), stop, progress, is_cancelled, self.family, self.preview_interval
        )
        if ctx.all_cancelled():
            raise GenerationCancelled("every job in the batch was cancelled")
        sizes = [r.image_count for r in batch]
        with (
            torch.no_grad(),
            seamless([denoiser(self.pipe), self.pipe.vae], spec.tile),
            decode_per_job(self.pipe.vae, sizes),
        ):
            if first.kind.is_inpaint:
                images = self._edit_call(batch, ctx)
            elif self.image_prompts.img2img(first):
                images = self._img2img_call([as_img2img(r) for r in batch], ctx)
            elif txt2img:
                images = self._txt2img_call(batch, ctx)
            else:
                images = self._img2img_call(batch, ctx)
        results, i = [], 0
        for r in batch:
            mine = images[i : i + r.image_count]
            i += r.image_count
            pngs, pictures = ([], tuple(mine)) if self.defer_png else ([png_bytes(im) for im in mine], ())
            size, embeds = (mine[0].width, mine[0].height), self.image_prompts.computed.pop(r.job_id, None)
            results.append(GenResult(r.job_id, pngs, *size, pictures=pictures, image_embeds=embeds))
        return results

    def _conditioning(self, batch: list[GenRequest], chaos: bool) -> Conditioning:
        do_cfg = self._do_cfg(batch[0].spec.guidance_scale)
        conds = []
        for r in batch:
            cond = self._encoder.encode(r.spec, r.image_count, do_cfg, self.device)
            if chaos:
                seeds = [r.seed + k for k in range(r.image_count)]
                cond.embeds = chaos_embeds(cond.embeds, seeds, r.spec.chaos)
            conds.append(cond)
        return Conditioning.concat(conds)

    def _do_cfg(self, guidance_scale: float) -> bool:
        """Classifier-free guidance (a negative pass) — never for FLUX, whose guidance is an input."""
        if self.family == "flux":
            return False
        unet = getattr(self.pipe, "unet", None)
        return guidance_scale > 1 and (unet is None or unet.config.time_cond_proj_dim is None)

    @staticmethod
    def _generators(batch: list[GenRequest]) -> list[torch.Generator]:
        return generators([r.seed + k for r in batch for k in range(r.image_count)])

    def _call(self, pipe: Any, batch: list[GenRequest], ctx: StepContext, **kwargs: Any) -> list[Image.Image]:
        """One pipeline call with what every call shares: steps, guidance, the step callback, PIL out."""
        spec = batch[0].spec
        if "height" in kwargs:  # the pixel size FLUX's packed latents are unpacked at for previews
            ctx.size = (int(kwargs["height"]), int(kwargs["width"]))
        out = pipe(
            **kwargs,
            num_inference_steps=spec.steps,
            guidance_scale=spec.guidance_scale,
            num_images_per_prompt=1,
            output_type="pil",
            callback_on_step_end=step_callback(ctx),
            callback_on_step_end_tensor_inputs=["latents"],
        )
        return list(out.images)

    def _inpaint_call(
        self, batch: list[GenRequest], ctx: StepContext, inputs: list[InpaintInput], **kwargs: Any
    ) -> list[Image.Image]:
        """The inpainting pipeline over each job's start picture and mask, its images finished per job."""
        counts = [r.image_count for r in batch]
        width, height = inputs[0].image.size
        kwargs.update(inpaint.per_image(inputs, counts), width=width, height=height)
        with encode_once(self.pipe.vae):
            images = self._call(self.inpaint, batch, ctx, **kwargs)
        return inpaint.finish(inputs, counts, images)

    def _txt2img_call(self, batch: list[GenRequest], ctx: StepContext) -> list[Image.Image]:
        spec = batch[0].spec
        cond = self._conditioning(batch, chaos=True)
        seeds = [r.seed + k for r in batch for k in range(r.image_count)]
        chaos = [r.spec.chaos for r in batch for _ in range(r.image_count)]
        gens = generators(seeds)
        latents = None
        if any(chaos):  # otherwise let the pipeline draw the very same noise itself
            noise = noise_latents(self.pipe, gens, spec.height, spec.width, cond.embeds.dtype, self.device)
            latents = pack_latents(self.pipe, chaos_latents(noise, seeds, chaos))
        kwargs = dict(cond.pipeline_kwargs(), generator=gens, latents=latents)
        pipe = self.image_prompts.pipe_for(batch, self.inpaint if self.inpainting_model else self.pipe)
        guided = self._do_cfg(spec.guidance_scale)
        with self.image_prompts.embeds(batch, pipe, guided, cond.embeds.dtype) as image_prompts:
            kwargs.update(image_prompts)
            if self.inpainting_model:
                blank = [inpaint.blank_input(spec.width, spec.height)] * len(batch)
                return self._inpaint_call(batch, ctx, blank, strength=1.0, **kwargs)
            return self._call(pipe, batch, ctx, width=spec.width, height=spec.height, **kwargs)

    def _img2img_call(self, batch: list[GenRequest], ctx: StepContext) -> list[Image.Image]:
        sources = [open_source(r) for r in batch]
        sizes = {img2img_size(r, src) for r, src in zip(batch, sources, strict=True)}
        strengths = {img2img_strength(r) for r in batch}
        if len(sizes) > 1 or len(strengths) > 1:  # (a batch key with strength None + different defaults)
            raise ValueError("img2img jobs of one batch must have the same size and strength")
        [(width, height)], [strength] = sizes, strengths
        large = max(width, height) > TILED_ABOVE * self.native_resolution
        with vae_tiling(self.pipe.vae, large):
            starts = [source_image(src, width, height) for src in sources]
            if self.inpainting_model:
                inputs = [inpaint.whole_input(start) for start in starts]
                cond = self._conditioning(batch, chaos=False)
                kwargs = dict(cond.pipeline_kwargs(), generator=self._generators(batch), strength=strength)
                return self._inpaint_call(batch, ctx, inputs, **kwargs)
            inits, gens = [], []
            for r, start in zip(batch, starts, strict=True):
                mine = generators([r.seed + k for k in range(r.image_count)])
                inits.append(encode_source(self.img2img, start, mine, self.device))
                gens.extend(mine)
            cond = self._conditioning(batch, chaos=False)
            image = torch.cat(inits).to(cond.embeds.dtype)
            # SD3/FLUX img2img take the output size (FLUX would otherwise pack for its default 1024)
            size = {"width": width, "height": height} if is_transformer_family(self.family) else {}
            kwargs = dict(cond.pipeline_kwargs(), image=image, strength=strength, generator=gens, **size)
            guided = self._do_cfg(batch[0].spec.guidance_scale)  # a variation keeps its image prompts
            with self.image_prompts.embeds(batch, self.img2img, guided, cond.embeds.dtype) as extra:
                return self._call(self.img2img, batch, ctx, **kwargs, **extra)

    def _edit_call(self, batch: list[GenRequest], ctx: StepContext) -> list[Image.Image]:
        """Vary (Region), Zoom Out, Pan, Make Square: inpaint each job's canvas, paste the source back."""
        inputs = [inpaint.edit_input(r, open_source(r)) for r in batch]
        if len({i.image.size for i in inputs}) > 1:
            raise ValueError("the edits of one batch must have the same size")
        first = batch[0]
        strength = first.strength if first.strength is not None else 1.0
        cond = self._conditioning(batch, chaos=False)
        kwargs = dict(cond.pipeline_kwargs(), generator=self._generators(batch), strength=strength)
        return self._inpaint_call(batch, ctx, inputs, **kwargs)
