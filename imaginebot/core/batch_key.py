"""BatchKey: what requests must share to run in one forward pass (GenRequest.batch_key), and LoraRef."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoraRef:
    """A LoRA a prompt asks for (`<lora:NAME:W>`): a file stem in `gen.loras_dir` and its weight."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class ImagePrompt:
    """The image inputs a job's pass depends on: jobs batch only with the same kind, weight and count
    (one adapter scale per call; the embeddings of one call have one image count)."""

    kind: str  # "image": image prompts (`image`, `image2`, leading URLs), by --iw; "style": --sref, by --sw
    weight: float  # --iw
    count: int  # images

    def as_json(self) -> dict[str, object]:
        return {"image": self.kind, "weight": self.weight, "count": self.count}


@dataclass(frozen=True, slots=True)
class BatchKey:
    """What requests must share to run in one forward pass (see GenRequest.batch_key)."""

    family: str  # "txt2img", "img2img" or "inpaint"
    upscale: bool
    width: int
    height: int
    steps: int
    effective_steps: int
    guidance_scale: float
    tile: bool
    strength: float | None
    loras: tuple[LoraRef, ...] = ()  # the LoRA set and weights: adapters are set once per call
    image: ImagePrompt | None = None  # image prompts: their kind, weight and count

    def as_json(self) -> str:
        """The JSON array stored in `jobs.batch_key`, by which the claim groups jobs into a batch. Rows
        written before this type existed hold the same text: keep the field order and the encoding (the
        LoRA set is appended only when there is one, then the image prompts' object when there are some)."""
        extra: list[object] = [[[lo.name, lo.weight] for lo in self.loras]] if self.loras else []
        if self.image is not None:
            extra.append(self.image.as_json())
        return json.dumps(
            [
                self.family,
                self.upscale,
                self.width,
                self.height,
                self.steps,
                self.effective_steps,
                self.guidance_scale,
                self.tile,
                self.strength,
                *extra,
            ]
        )
