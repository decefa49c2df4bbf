"""`--cn KIND` jobs in the engine: the ControlNet of `gen.controlnets.<kind>`, loaded for the first batch
that uses it and released by the next batch that does not (one kind at a time), and the ControlNet
pipeline (gen.controlnet: the base pipeline's modules, shared) with each job's control map at `--cw`.

The map is the job's image as stored: the bot (or the CLI) turned a `canny` image into its edge map
(imaginebot.core.canny); the other kinds take the image as the map. For one job the images equal plain
diffusers' ControlNet pipeline with `image=map, controlnet_conditioning_scale=cw` on the same seeds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gen.controlnet import controlnet_pipeline, load_controlnet, unload_controlnet
from gen.family import denoiser
from gen.loader import ModelLoadError
from imaginebot.core.domain import GenRequest
from imaginebot.core.images import open_image

log = logging.getLogger(__name__)


def is_control(r: GenRequest) -> bool:
    """A --cn pass: a job made from text whose image is its control map."""
    return bool(r.spec.cn and r.images) and not r.kind.needs_source


class Controls:
    def __init__(self, pipe: Any, controlnets: Mapping[str, str] | None = None) -> None:
        self.pipe = pipe
        self.controlnets = {k: str(v) for k, v in (controlnets or {}).items()}
        self.kind = ""
        self.pipe_cn: Any = None

    def activate(self, batch: list[GenRequest]) -> None:
        kind = batch[0].spec.cn if is_control(batch[0]) else ""
        if kind == self.kind:
            return
        self.release()
        if not kind:
            return
        ref = self.controlnets.get(kind, "").strip()
        if not ref:
            raise ModelLoadError(f"--cn {kind}: no ControlNet is configured for it (gen.controlnets.{kind})")
        unet = denoiser(self.pipe)
        log.info("loading the %s ControlNet %s", kind, ref)
        controlnet = load_controlnet(ref, unet.dtype, self.pipe._execution_device, kind=kind)
        self.pipe_cn = controlnet_pipeline(self.pipe, controlnet, kind=kind)
        self.kind = kind

    def release(self) -> None:
        if self.pipe_cn is not None:
            log.info("releasing the %s ControlNet", self.kind)
            unload_controlnet(self.pipe_cn)
        self.pipe_cn, self.kind = None, ""

    @staticmethod
    def call_kwargs(batch: list[GenRequest]) -> dict[str, Any]:
        """The control map of every image of the batch, and the weight."""
        maps = [open_image(r.images[0]) for r in batch for _ in range(r.image_count)]
        return {"image": maps, "controlnet_conditioning_scale": float(batch[0].spec.cw)}
