"""What the inpainting pipeline is given: a start picture and a mask per job, and how its result is finished.

- An edit (Vary (Region), Zoom Out, Pan, Make Square): the start picture is the edit's canvas (the
  source resized into `plan.place`, grey elsewhere) and the mask is white where `plan.regenerate` says
  (grown by the seam); the finished image is the generated one pasted back over the canvas
  (`imaginebot.core.edit_images.paste_back`), so the kept area holds the source's own pixels, never a
  VAE round trip of them.
- On a dedicated inpainting model (9-channel UNet) every other job runs through the inpainting pipeline
  too, with a mask that is white everywhere: a grey canvas for txt2img, the resized source for img2img.
  The generated image is then the result as it is.

The pipeline takes one picture and one mask per image (a job's repeated `image_count` times), so that
each image's encoding samples with its own generator, as img2img does: image k of a job can be
reproduced alone, and a batch gives each job what its own run gives (gen.latents.encode_once keeps the
repeated encodes cheap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from imaginebot.core import edit_images
from imaginebot.core.domain import GenRequest
from imaginebot.core.edits import EditPlan


@dataclass(frozen=True, slots=True)
class InpaintInput:
    """One job's start picture and mask at the output size, and the edit its result is finished with."""

    image: Image.Image
    mask: Image.Image
    plan: EditPlan | None = None  # None: the whole picture is regenerated and kept as generated

    def finish(self, generated: Image.Image) -> Image.Image:
        if self.plan is None:
            return generated
        return edit_images.paste_back(generated, self.image, self.plan)


def edit_input(request: GenRequest, source: Image.Image) -> InpaintInput:
    """The canvas and mask of an edit job (`request.edit`), from its decoded source picture."""
    plan = request.edit
    if plan is None:
        raise ValueError(f"{request.kind.value} job {request.job_id} has no edit plan")
    return InpaintInput(edit_images.canvas(source, plan), edit_images.inpaint_mask(plan), plan)


def whole_input(image: Image.Image) -> InpaintInput:
    """Regenerate all of `image` (RGB, at the output size): a white mask."""
    return InpaintInput(image, Image.new("L", image.size, 255))


def blank_input(width: int, height: int) -> InpaintInput:
    """txt2img through the inpainting pipeline: a grey canvas (it starts from pure noise anyway)."""
    return whole_input(Image.new("RGB", (width, height), edit_images.FILL))


def per_image(inputs: Sequence[InpaintInput], counts: Sequence[int]) -> dict[str, Any]:
    """The pipeline's `image` and `mask_image` lists: each job's picture and mask once per image."""
    pairs = [(i.image, i.mask) for i, n in zip(inputs, counts, strict=True) for _ in range(n)]
    return {"image": [p[0] for p in pairs], "mask_image": [p[1] for p in pairs]}


def finish(
    inputs: Sequence[InpaintInput], counts: Sequence[int], images: Sequence[Image.Image]
) -> list[Image.Image]:
    """Each generated image finished by its job's input (pasted back for an edit)."""
    owners = [i for i, n in zip(inputs, counts, strict=True) for _ in range(n)]
    if len(owners) != len(images):
        raise RuntimeError(f"the inpainting pipeline returned {len(images)} images for {len(owners)}")
    return [owner.finish(im) for owner, im in zip(owners, images, strict=True)]
