"""Image prompts (`/imagine image`, leading URLs, `--iw`) inside the engine.

With `gen.ip_adapter` set, the IP-Adapter is loaded into the pipeline for the first batch with image
prompts and unloaded by the next batch without any (its weights stay loaded only while used; unloaded,
generation is bit-identical to before). Each job's images are encoded once (`gen.ip_adapter.image_embeds`)
and the embeddings returned with its result, to be stored with the job; a job that carries them
(a rerun) is not encoded again. The pass is the text-to-image call with `ip_adapter_image_embeds` at
scale `iw_to_scale(--iw)`: for one job the same images as plain diffusers' `load_ip_adapter` +
`set_ip_adapter_scale` + `pipe(…, ip_adapter_image=…)`.

Style references (`--sref` links, fetched by the bot like image prompts) go the same way, at the style
scale `sw_to_style_scale(--sw)` on the style layers only; they need `gen.ip_adapter`.

Without `gen.ip_adapter`, the image (or the even mix of several) is the start picture of an img2img pass
at strength `iw_to_strength(--iw)` (a higher --iw keeps more of it).

`gen.ip_adapter` names the adapter's weights file: a local path (`adapters/ip-adapter_sd15.safetensors`,
its CLIP image encoder in `image_encoder/` beside it), a local folder holding exactly one such file, or a
Hugging Face path `owner/repo/[subfolder/]file` (`h94/IP-Adapter/models/ip-adapter_sd15.safetensors`,
encoder in `models/image_encoder`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from gen import ip_adapter as ipa
from gen.controls import Controls, is_control
from gen.loader import ModelLoadError
from imaginebot.core.domain import GenRequest
from imaginebot.core.images import open_image, png_bytes

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin")
MAX_KEPT = 256  # embeddings kept for jobs whose result is not out yet (a retry here reuses them)


def adapter_location(setting: str) -> tuple[str, str, str]:
    """`gen.ip_adapter` → (folder or repo id, subfolder, weight file name) for `load_ip_adapter`."""
    text = setting.strip()
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
        if len(found) != 1:
            what = "no" if not found else "more than one"
            raise ModelLoadError(f"{ipa.SETTING}: {what} .safetensors/.bin file in {path}; name the file")
        return str(path), "", found[0]
    if path.suffix not in WEIGHT_SUFFIXES:
        raise ModelLoadError(
            f"{ipa.SETTING} must name the adapter's .safetensors or .bin file (a local path, or "
            f"owner/repo/[subfolder/]file on Hugging Face), not {text!r}"
        )
    if path.is_file() or path.is_absolute() or text.startswith((".", "~")):
        return str(path.parent), "", path.name
    parts = text.split("/")
    if len(parts) < 3:
        raise ModelLoadError(f"{ipa.SETTING}: {text!r} is neither a local file nor owner/repo/file")
    return "/".join(parts[:2]), "/".join(parts[2:-1]), parts[-1]


def as_img2img(r: GenRequest) -> GenRequest:
    """An image-prompt job without IP-Adapter: img2img at the --iw strength from its image, or from the
    even mix of its images (each fitted to the output size) when it has several (`image2`, /blend)."""
    start = r.images[0]
    if len(r.images) > 1:
        size = (r.spec.width, r.spec.height)
        pictures = [ImageOps.fit(open_image(png), size) for png in r.images]
        mixed = np.mean([np.asarray(p, dtype=np.float64) for p in pictures], axis=0)
        start = png_bytes(Image.fromarray(mixed.round().astype(np.uint8)))
    return replace(r, source_png=start, strength=ipa.iw_to_strength(r.spec.iw))


class ImagePrompts:
    """The IP-Adapter of one pipeline: loaded while batches use it, and the embeddings of a batch."""

    def __init__(self, pipe: Any, setting: str = "", controlnets: Mapping[str, str] | None = None) -> None:
        self.pipe = pipe
        self.setting = setting.strip()
        self.loaded = False
        self.controls = Controls(pipe, controlnets)
        # Embeddings computed here whose job has no result yet, by job id: the result carries them out to
        # be stored with the job; a retry of a failed call here (device error, out of memory) reuses them.
        self.computed: dict[str, bytes] = {}

    @property
    def adapter(self) -> bool:
        """Whether image prompts go through IP-Adapter (else img2img)."""
        return bool(self.setting)

    def activate(self, batch: list[GenRequest]) -> None:
        """Load the adapter for a batch with image prompts, unload it for one without."""
        style = batch[0].spec.sref and batch[0].images
        if style and not self.adapter:
            raise ModelLoadError(f"--sref needs an IP-Adapter: set {ipa.SETTING}")
        self.controls.activate(batch)
        wanted = self.adapter and bool(batch[0].images) and not is_control(batch[0])
        if wanted and not self.loaded:
            ref, subfolder, weight = adapter_location(self.setting)
            log.info("loading IP-Adapter %s", self.setting)
            ipa.load_ip_adapter(self.pipe, ref, weight, subfolder=subfolder)
            self.loaded = True
        elif not wanted and self.loaded:
            log.info("unloading IP-Adapter (no image prompts in this batch)")
            ipa.unload(self.pipe)
            self.loaded = False

    def img2img(self, r: GenRequest) -> bool:
        """Whether the job runs as img2img from its images (image prompts without an IP-Adapter)."""
        return bool(r.images) and not self.adapter and not is_control(r) and not r.kind.needs_source

    def pipe_for(self, batch: list[GenRequest], default: Any) -> Any:
        return self.controls.pipe_cn if is_control(batch[0]) else default

    @contextmanager
    def embeds(
        self, batch: list[GenRequest], pipe: Any, guidance: bool, dtype: torch.dtype
    ) -> Iterator[dict[str, Any]]:
        """For the call of `pipe` inside: `ip_adapter_image_embeds` for every image of the batch, its
        scale set (nothing without image prompts). The embeddings computed now are kept in `computed`,
        by job id; jobs that carried theirs are not encoded again.

        Diffusers repeats one set of image embeddings for every prompt of a call; a batch holds one set
        per job, so for the call `pipe.prepare_ip_adapter_image_embeds` returns the batch's tensor as it
        is (for one job exactly what diffusers would make of its image)."""
        if is_control(batch[0]):
            yield self.controls.call_kwargs(batch)
            return
        if not batch[0].images or not self.loaded:  # (a variation's image prompts need the adapter)
            yield {}
            return
        spec = batch[0].spec
        if spec.sref:  # style references: the style layers only, at the --sw scale
            ipa.set_style_scale(self.pipe, ipa.sw_to_style_scale(spec.sw))
        else:
            ipa.set_scale(self.pipe, ipa.iw_to_scale(spec.iw))
        negatives, positives = [], []
        for r in batch:
            known = r.image_embeds if r.image_embeds is not None else self.computed.get(r.job_id)
            if known is not None:  # stored with the job, or computed by a try of this batch that failed
                embeds = ipa.embeds_from_bytes(known)
            else:
                embeds = ipa.image_embeds(self.pipe, list(r.images))
                self.computed[r.job_id] = ipa.embeds_to_bytes(embeds)
                while len(self.computed) > MAX_KEPT:  # jobs that failed here and went elsewhere
                    self.computed.pop(next(iter(self.computed)))
            negatives += [embeds[0:1]] * r.image_count
            positives += [embeds[1:2]] * r.image_count
        parts = [*negatives, *positives] if guidance else positives
        tensors = [torch.cat(parts).to(device=self.pipe._execution_device, dtype=dtype)]
        pipe.prepare_ip_adapter_image_embeds = lambda *args, **kwargs: tensors
        try:
            yield {"ip_adapter_image_embeds": tensors}
        finally:
            del pipe.prepare_ip_adapter_image_embeds
