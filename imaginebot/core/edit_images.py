"""The pictures of an edit (Pillow only): the canvas with the source in place, the inpainting mask, and
the paste-back that keeps the source's own pixels (see `imaginebot.core.edits` for the geometry).

- `canvas(source, plan)`: the output-sized image the pipeline starts from: the source resized (Lanczos)
  into `plan.place`, the rest neutral grey (it is regenerated from noise).
- `inpaint_mask(plan)`: white where the pipeline repaints: the regenerated boxes grown by `SEAM` pixels,
  so that the pipeline also paints the band where the two are blended.
- `seam_alpha(plan)`: how much of the generated picture each output pixel takes: 255 inside a
  regenerated box, falling linearly to 0 over `SEAM` pixels outside it, 0 elsewhere.
- `paste_back(generated, canvas, plan)`: the finished image: the canvas's pixels (the source's own)
  wherever `seam_alpha` is 0, never a VAE round trip of them.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from imaginebot.core.edits import SEAM, EditPlan

FILL = (127, 127, 127)


def placed_source(source: Image.Image, plan: EditPlan) -> Image.Image:
    """The source resized to the size of `plan.place` (what the kept area holds)."""
    src = source.convert("RGB")
    size = (plan.place.width, plan.place.height)
    return src if src.size == size else src.resize(size, Image.Resampling.LANCZOS)


def canvas(source: Image.Image, plan: EditPlan) -> Image.Image:
    out = Image.new("RGB", plan.size, FILL)
    out.paste(placed_source(source, plan), (plan.place.left, plan.place.top))
    return out


def inpaint_mask(plan: EditPlan) -> Image.Image:
    mask = Image.new("L", plan.size, 0)
    draw = ImageDraw.Draw(mask)
    for box in plan.regenerate:
        grown = box.grow(SEAM, plan.width, plan.height)
        draw.rectangle((grown.left, grown.top, grown.right - 1, grown.bottom - 1), fill=255)
    return mask


def seam_alpha(plan: EditPlan) -> Image.Image:
    alpha = Image.new("L", plan.size, 0)
    draw = ImageDraw.Draw(alpha)
    # From the widest ring (faintest) inwards: each pixel ends with the value of its nearest box.
    for ring in range(SEAM, -1, -1):
        value = round(255 * (SEAM + 1 - ring) / (SEAM + 1))
        for box in plan.regenerate:
            grown = box.grow(ring, plan.width, plan.height)
            draw.rectangle((grown.left, grown.top, grown.right - 1, grown.bottom - 1), fill=value)
    return alpha


def paste_back(generated: Image.Image, start: Image.Image, plan: EditPlan) -> Image.Image:
    """`generated` where regenerated, `start` (the canvas) where kept, blended across the seam."""
    gen = generated.convert("RGB")
    if gen.size != plan.size:
        gen = gen.resize(plan.size, Image.Resampling.LANCZOS)
    return Image.composite(gen, start.convert("RGB"), seam_alpha(plan))
