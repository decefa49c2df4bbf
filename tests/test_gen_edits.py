"""The edits on the tiny model: Zoom Out, Pan, Make Square, Vary (Region), Upscale (Subtle/Creative).

Each edit's images have the plan's size, keep the source's own pixels (resized into place) outside the
regenerated boxes and their seam, and are new inside them; batches match single runs; one job matches
plain diffusers inpainting + paste-back; a dedicated 9-channel inpainting model runs every kind.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fixtures_model import gen_request
from PIL import Image

from imaginebot.core import edit_images
from imaginebot.core.domain import Failure, GenerationCancelled, GenProgress, JobKind
from imaginebot.core.edits import (
    EditAction,
    EditPlan,
    make_square,
    pan,
    plan_edit,
    upscale_again,
    vary_region,
    zoom_out,
)
from imaginebot.core.images import open_image, png_bytes

SOURCE = (96, 64)  # the source's generation size
BASE = 128  # base_resolution for pans and Make Square: outputs of about 128² pixels
STEPS = 3


def picture(width: int, height: int, shift: int = 0) -> bytes:
    """A source with structure everywhere (gradients and stripes), so a wrong pixel shows."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + 2 * y + shift) % 32 * 8], -1
    )
    return png_bytes(Image.fromarray(rgb.astype(np.uint8)))


def pixels(png: bytes | Image.Image) -> np.ndarray:
    img = open_image(png) if isinstance(png, bytes) else png.convert("RGB")
    return np.asarray(img).astype(np.float64)


def kept_mask(plan: EditPlan) -> np.ndarray:
    """True where the plan keeps the source's pixels (outside every regenerated box and its seam)."""
    return np.array([[plan.is_kept(x, y) for x in range(plan.width)] for y in range(plan.height)])


def regenerated_mask(plan: EditPlan) -> np.ndarray:
    mask = np.zeros((plan.height, plan.width), dtype=bool)
    for box in plan.regenerate:
        mask[box.top : box.bottom, box.left : box.right] = True
    return mask


def edit_request(plan: EditPlan, source: bytes, **kw: Any) -> Any:
    kind = JobKind.for_action(plan.action).value
    kw.setdefault("steps", STEPS)
    return gen_request(kind=kind, size=SOURCE, source_png=source, edit=plan, **kw)


EDITS = {
    "zoom-out-2": lambda: zoom_out(SOURCE, 2.0),
    "zoom-out-1.5": lambda: zoom_out(SOURCE, 1.5),
    "custom-zoom-ar": lambda: plan_edit(
        EditAction.ZOOM_OUT,
        source_size=SOURCE,
        source_pixels=SOURCE,
        base_resolution=BASE,
        zoom=1.25,
        ar="1:1",
    ),
    "pan-left": lambda: pan(SOURCE, EditAction.PAN_LEFT, BASE),
    "pan-right": lambda: pan(SOURCE, EditAction.PAN_RIGHT, BASE),
    "pan-up": lambda: pan(SOURCE, EditAction.PAN_UP, BASE),
    "pan-down": lambda: pan(SOURCE, EditAction.PAN_DOWN, BASE),
    "make-square": lambda: make_square(SOURCE, BASE),
    "vary-region": lambda: vary_region(SOURCE, [(0.0, 0.0, 1 / 3, 1 / 3), (1 / 3, 1 / 3, 1.0, 2 / 3)]),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_edit_keeps_the_source_and_regenerates_the_rest(tiny_engine: Any, name: str) -> None:
    plan = EDITS[name]()
    assert plan is not None
    source = picture(*SOURCE)
    [res] = tiny_engine.generate([edit_request(plan, source, seed=21)])
    assert res.failure is None and len(res.images) == 4
    assert (res.width, res.height) == plan.size
    canvas = pixels(edit_images.canvas(open_image(source), plan))
    kept, regenerated = kept_mask(plan), regenerated_mask(plan)
    assert kept.any() and regenerated.any()
    images = [pixels(png) for png in res.images]
    for img in images:
        assert img.shape == (plan.height, plan.width, 3)
        assert np.array_equal(img[kept], canvas[kept])  # the source's own pixels, resized into place
        assert np.abs(img[regenerated] - canvas[regenerated]).mean() > 5  # new where regenerated
    for a, b in itertools.combinations(images, 2):  # four different pictures
        assert np.abs(a[regenerated] - b[regenerated]).mean() > 5


def test_single_edit_equals_plain_diffusers_inpainting_plus_paste_back(
    tiny_engine: Any, tiny_pipe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffusers import AutoencoderKL, AutoPipelineForInpainting

    plan = zoom_out(SOURCE, 1.5)
    source = picture(*SOURCE)
    encodes: list[tuple[int, ...]] = []
    real_encode = AutoencoderKL.encode

    def counting_encode(self: Any, x: torch.Tensor, return_dict: bool = True) -> Any:
        encodes.append(tuple(x.shape))
        return real_encode(self, x, return_dict)

    monkeypatch.setattr(AutoencoderKL, "encode", counting_encode)
    [res] = tiny_engine.generate(
        [edit_request(plan, source, prompt="a lighthouse", seed=5, negative_prompt="fog")]
    )
    engine_encodes, encodes[:] = len(encodes), []

    start = edit_images.canvas(open_image(source), plan)
    mask = edit_images.inpaint_mask(plan)
    raw = AutoPipelineForInpainting.from_pipe(tiny_pipe)(
        "a lighthouse",
        negative_prompt="fog",
        image=[start] * 4,
        mask_image=[mask] * 4,
        width=plan.width,
        height=plan.height,
        strength=1.0,
        num_inference_steps=STEPS,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(5 + k) for k in range(4)],
    ).images
    assert [png_bytes(edit_images.paste_back(im, start, plan)) for im in raw] == res.images
    # The same pictures with the canvas and the masked canvas encoded once each, not once per image.
    assert (engine_encodes, len(encodes)) == (2, 8)
    assert "encode" not in vars(tiny_engine.pipe.vae)  # the encode cache is gone again


def test_a_batch_of_different_edits_matches_single_runs(tiny_engine: Any) -> None:
    zoom, region = zoom_out(SOURCE, 2.0), vary_region(SOURCE, [(0.5, 0.0, 1.0, 1.0)])
    reqs = [
        edit_request(zoom, picture(*SOURCE), job_id="zoom", prompt="a castle", seed=3),
        edit_request(region, picture(*SOURCE, shift=16), job_id="region", prompt="a forest", seed=900),
    ]
    assert reqs[0].batch_key() == reqs[1].batch_key()
    seen: list[GenProgress] = []
    batched = tiny_engine.generate(reqs, progress=seen.append)
    assert [p.step for p in seen] == list(range(1, len(seen) + 1)) and seen[-1].percent == 100
    assert seen[-1].job_ids == ("zoom", "region") and set(seen[-1].previews) == {"zoom", "region"}
    for res, req in zip(batched, reqs, strict=True):
        [single] = tiny_engine.generate([req])
        assert len(res.images) == 4
        worst = max(
            float(np.abs(pixels(x) - pixels(y)).max()) for x, y in zip(res.images, single.images, strict=True)
        )
        assert worst <= 2, f"{req.job_id}: batched differs from single by {worst}"


def test_cancelling_an_edit_stops_between_steps(tiny_engine: Any) -> None:
    steps: list[int] = []
    with pytest.raises(GenerationCancelled):
        tiny_engine.generate(
            [edit_request(zoom_out(SOURCE, 2.0), picture(*SOURCE), steps=10)],
            progress=lambda p: steps.append(p.step),
            is_cancelled=lambda job_id: len(steps) >= 1,
        )
    assert steps == [1]


def test_an_undecodable_source_or_a_missing_plan_fails_that_job_alone(tiny_engine: Any) -> None:
    plan = zoom_out(SOURCE, 2.0)
    good = edit_request(plan, picture(*SOURCE), job_id="good")
    bad = edit_request(plan, b"\x89PNG\r\n\x1a\n this is not a picture", job_id="bad")
    cut = edit_request(plan, picture(*SOURCE)[:300], job_id="cut")  # a truncated PNG
    planless = gen_request(
        kind="zoom_out", size=SOURCE, steps=STEPS, source_png=picture(*SOURCE), job_id="planless"
    )
    results = tiny_engine.generate([good, bad, cut, planless])
    assert [(r.job_id, len(r.images), r.failure) for r in results] == [
        ("good", 4, None),
        ("bad", 0, Failure.BAD_INPUT),
        ("cut", 0, Failure.BAD_INPUT),
        ("planless", 0, Failure.BAD_INPUT),
    ]
    assert results[1].detail == "zoom_out job bad: the source image does not decode (an unknown image format)"
    assert results[2].detail.startswith("zoom_out job cut: the source image does not decode (")
    assert results[3].detail == "zoom_out job planless has no edit plan"
    assert (results[1].width, results[1].height) == plan.size


def upscale_request(
    action: EditAction, strength: float | None = None, steps: int = 8, job_id: str = "up"
) -> Any:
    """Upscale (Subtle/Creative) of a 64×48 upscaled image (its grid image was 32×24): 128×96."""
    plan = upscale_again((64, 48), action)
    kind = JobKind.for_action(action).value
    return gen_request(
        kind=kind,
        size=(32, 24),
        steps=steps,
        source_png=picture(64, 48),
        edit=plan,
        strength=strength,
        job_id=job_id,
    )


@pytest.mark.parametrize(
    ("action", "strength"), [(EditAction.UPSCALE_SUBTLE, 0.2), (EditAction.UPSCALE_CREATIVE, 0.45)]
)
def test_upscale_subtle_and_creative_double_the_source(
    tiny_engine: Any, action: EditAction, strength: float
) -> None:
    [up] = tiny_engine.generate([upscale_request(action)])
    assert len(up.images) == 1 and (up.width, up.height) == (128, 96) == open_image(up.images[0]).size
    # Without a strength the action's own applies (the queue sets the same value).
    [same] = tiny_engine.generate([upscale_request(action, strength)])
    assert same.images == up.images


def test_creative_upscale_departs_further_from_the_source_than_subtle(tiny_engine: Any) -> None:
    resized = pixels(open_image(picture(64, 48)).resize((128, 96), Image.Resampling.LANCZOS))

    def distance(action: EditAction) -> float:
        [up] = tiny_engine.generate([upscale_request(action)])
        return float(np.abs(pixels(up.images[0]) - resized).mean())

    assert distance(EditAction.UPSCALE_SUBTLE) < distance(EditAction.UPSCALE_CREATIVE)


def test_batched_subtle_and_creative_upscales_keep_their_own_strengths(tiny_engine: Any) -> None:
    """Without a strength on the requests their batch keys agree, but their default strengths do not."""
    subtle = upscale_request(EditAction.UPSCALE_SUBTLE, job_id="subtle")
    creative = upscale_request(EditAction.UPSCALE_CREATIVE, job_id="creative")
    assert subtle.batch_key() == creative.batch_key()
    both = tiny_engine.generate([subtle, creative])
    [alone] = tiny_engine.generate([creative])
    assert [r.failure for r in both] == [None, None] and both[1].images == alone.images


def test_a_large_upscale_uses_vae_tiling_for_the_call_only(
    tiny_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gen.engine import DiffusersEngine

    tiling: list[bool] = []
    vae = tiny_engine.pipe.vae
    req = upscale_request(EditAction.UPSCALE_SUBTLE, steps=5)  # 128×96
    tiny_engine.generate([req], progress=lambda p: tiling.append(vae.use_tiling))
    assert tiling and not any(tiling)  # 128 px is small for a 512 px model
    monkeypatch.setattr(DiffusersEngine, "native_resolution", property(lambda self: 48))
    tiling.clear()
    tiny_engine.generate([req], progress=lambda p: tiling.append(vae.use_tiling))
    assert tiling and all(tiling)  # more than twice the native size a side: tiled
    assert not vae.use_tiling


# -- a dedicated inpainting model (9-channel UNet) --------------------------------------------------


@pytest.fixture(scope="module")
def inpaint_engine(tiny_inpaint_dir: Path) -> Any:
    from gen.engine import DiffusersEngine
    from gen.loader import load_pipeline

    pipe = load_pipeline(str(tiny_inpaint_dir), device="cpu")
    return DiffusersEngine(pipe, model_id="tiny-inpaint", preview_interval=0.0)


def test_inpainting_model_loads_as_text_to_image_over_a_9_channel_unet(
    tiny_inpaint_dir: Path, tiny_model_dir: Path
) -> None:
    import json

    from diffusers import StableDiffusionPipeline

    from gen.loader import ModelLoadError, load_pipeline

    assert json.loads((tiny_inpaint_dir / "model_index.json").read_text())["_class_name"] == (
        "StableDiffusionInpaintPipeline"
    )
    folder = load_pipeline(str(tiny_inpaint_dir), device="cpu")
    assert type(folder) is StableDiffusionPipeline and folder.unet.config.in_channels == 9
    # The single-file checkpoint (original layout) loads with the inpainting folder as its configs…
    single_file = tiny_inpaint_dir.parent / "tiny-inpaint.safetensors"
    single = load_pipeline(str(single_file), config_dir=tiny_inpaint_dir, device="cpu")
    assert single.unet.config.in_channels == 9
    assert all(
        torch.equal(a, b) for a, b in zip(single.unet.parameters(), folder.unet.parameters(), strict=True)
    )
    # …and a text-to-image folder's configs are refused by name.
    with pytest.raises(ModelLoadError, match="is an inpainting checkpoint but config folder"):
        load_pipeline(str(single_file), config_dir=tiny_model_dir, device="cpu")


def test_inpainting_model_imagines_like_plain_inpainting_of_a_grey_canvas(inpaint_engine: Any) -> None:
    from imaginebot.core.edit_images import FILL

    [res] = inpaint_engine.generate([gen_request("a red fox", size=(64, 64), steps=STEPS, seed=8)])
    assert len(set(res.images)) == 4 and (res.width, res.height) == (64, 64)
    grey, white = Image.new("RGB", (64, 64), FILL), Image.new("L", (64, 64), 255)
    raw = inpaint_engine.inpaint(
        "a red fox",
        image=[grey] * 4,
        mask_image=[white] * 4,
        width=64,
        height=64,
        strength=1.0,
        num_inference_steps=STEPS,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(8 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images
    [chaotic] = inpaint_engine.generate(
        [gen_request("a red fox", size=(64, 64), steps=STEPS, seed=8, chaos=60)]
    )
    assert chaotic.images != res.images


def test_inpainting_model_edits_varies_and_upscales(inpaint_engine: Any) -> None:
    source = picture(*SOURCE)
    plan = zoom_out(SOURCE, 2.0)
    [zoomed] = inpaint_engine.generate([edit_request(plan, source, seed=2)])
    canvas, kept = pixels(edit_images.canvas(open_image(source), plan)), kept_mask(plan)
    assert len(set(zoomed.images)) == 4
    assert all(np.array_equal(pixels(png)[kept], canvas[kept]) for png in zoomed.images)
    variation = gen_request(kind="variation", size=SOURCE, steps=6, source_png=source, strength=0.5)
    upscale = gen_request(kind="upscale", size=SOURCE, steps=6, source_png=source, strength=0.3)
    [varied] = inpaint_engine.generate([variation])
    [up] = inpaint_engine.generate([upscale])
    assert len(set(varied.images)) == 4 and (varied.width, varied.height) == SOURCE
    assert len(up.images) == 1 and (up.width, up.height) == (192, 128)


# -- SDXL ---------------------------------------------------------------------------------------------


def test_sdxl_edit_keeps_the_source(tiny_sdxl_dir: Path) -> None:
    from gen.engine import DiffusersEngine
    from gen.loader import load_pipeline

    engine = DiffusersEngine(load_pipeline(str(tiny_sdxl_dir), device="cpu"), model_id="tiny-sdxl")
    source = picture(*SOURCE)
    plan = pan(SOURCE, EditAction.PAN_RIGHT, 96)
    [res] = engine.generate([edit_request(plan, source, seed=6)])
    assert (res.width, res.height) == plan.size and len(set(res.images)) == 4
    canvas, kept = pixels(edit_images.canvas(open_image(source), plan)), kept_mask(plan)
    assert all(np.array_equal(pixels(png)[kept], canvas[kept]) for png in res.images)
