"""DiffusersEngine on the tiny model: seeds, bit-identity with diffusers, batching and every parameter."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch
from fake_engine import solid_png
from fixtures_model import gen_request

from imaginebot.core.domain import Failure, GenerationCancelled, GenProgress, TransientGenerationError
from imaginebot.core.images import open_image, png_bytes


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(open_image(png)).astype(np.float64)


def distance(a: bytes, b: bytes) -> float:
    return float(np.abs(pixels(a) - pixels(b)).mean())


def test_same_seed_same_png_bytes(tiny_engine: Any) -> None:
    [a] = tiny_engine.generate([gen_request(seed=7)])
    [b] = tiny_engine.generate([gen_request(seed=7)])
    [c] = tiny_engine.generate([gen_request(seed=8)])
    assert a.images == b.images
    assert len(set(a.images)) == 4  # four different pictures
    assert a.images[1] == c.images[0]  # image 2 of seed 7 starts from seed 8


def test_image_k_is_reproducible_alone(tiny_engine: Any) -> None:
    [grid] = tiny_engine.generate([gen_request(seed=1000)])
    for k in (2, 4):
        [alone] = tiny_engine.generate([gen_request(seed=1000 + k - 1)])
        assert alone.images[0] == grid.images[k - 1]


@pytest.mark.parametrize("negative", ["", "blurry, text"])
def test_bit_identical_to_plain_diffusers(tiny_engine: Any, tiny_pipe: Any, negative: str) -> None:
    req = gen_request("a red fox in snow", seed=42, size=(128, 96), steps=5, negative_prompt=negative)
    [res] = tiny_engine.generate([req])
    raw = tiny_pipe(
        "a red fox in snow",
        negative_prompt=negative or None,
        width=128,
        height=96,
        num_inference_steps=5,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(42 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images
    assert (res.width, res.height) == (128, 96)


def test_cross_job_batch_matches_single_runs(tiny_engine: Any) -> None:
    reqs = [
        gen_request("a red fox", job_id="a", seed=1),
        gen_request("a blue bird", job_id="b", seed=77, negative_prompt="ugly"),
        gen_request("a city at night", job_id="c", seed=2**32 - 1, chaos=30),
    ]
    batched = tiny_engine.generate(reqs)
    assert [r.job_id for r in batched] == ["a", "b", "c"]
    assert "decode" not in vars(tiny_engine.pipe.vae)  # the per-job decode wrapper is gone again
    for res, req in zip(batched, reqs, strict=True):
        [single] = tiny_engine.generate([req])
        worst = max(
            float(np.abs(pixels(x) - pixels(y)).max()) for x, y in zip(res.images, single.images, strict=True)
        )
        assert worst <= 2, f"{req.job_id}: batched differs from single by {worst}"


def test_batch_key_mismatch_is_rejected(tiny_engine: Any) -> None:
    with pytest.raises(ValueError, match="batch_key"):
        tiny_engine.generate([gen_request(job_id="a"), gen_request(job_id="b", size=(128, 64))])


def test_negative_prompt_and_weights_change_the_image(tiny_engine: Any) -> None:
    [plain] = tiny_engine.generate([gen_request("a red fox snow")])
    [no] = tiny_engine.generate([gen_request("a red fox snow", negative_prompt="trees")])
    [pos] = tiny_engine.generate([gen_request("a red fox snow", weights=[("a red fox", 1.0), ("snow", 0.5)])])
    [neg] = tiny_engine.generate(
        [gen_request("a red fox snow", weights=[("a red fox", 1.0), ("snow", -0.5)])]
    )
    assert distance(plain.images[0], no.images[0]) > 0.2
    assert distance(plain.images[0], pos.images[0]) > 0.2
    assert distance(pos.images[0], neg.images[0]) > 0.2
    # A single part at weight 1 is the plain prompt (no compel involved).
    [same] = tiny_engine.generate([gen_request("a red fox snow", weights=[("a red fox snow", 1.0)])])
    assert same.images == plain.images


def test_chaos_makes_the_four_images_more_different(tiny_engine: Any) -> None:
    def spread(chaos: int) -> float:
        [res] = tiny_engine.generate([gen_request(seed=5, chaos=chaos)])
        return float(np.mean([distance(a, b) for a, b in itertools.combinations(res.images, 2)]))

    calm, wild = spread(0), spread(100)
    assert wild > calm + 1.0, (calm, wild)


def test_stop_finishes_early_with_a_different_image(tiny_engine: Any) -> None:
    seen: list[GenProgress] = []
    [full] = tiny_engine.generate([gen_request(steps=10)])
    [early] = tiny_engine.generate([gen_request(steps=10, stop=50)], progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5]
    assert seen[-1].total_steps == 5 and seen[-1].percent == 100
    assert distance(full.images[0], early.images[0]) > 1.0


def test_tile_wraps_left_and_right_edges(tiny_engine: Any) -> None:
    def edge_gap(png: bytes) -> float:
        x = pixels(png)
        return float(np.abs(x[:, 0] - x[:, -1]).mean() + np.abs(x[0, :] - x[-1, :]).mean())

    [plain] = tiny_engine.generate([gen_request(seed=3)])
    [tiled] = tiny_engine.generate([gen_request(seed=3, tile=True)])
    assert np.mean([edge_gap(p) for p in tiled.images]) < 0.5 * np.mean([edge_gap(p) for p in plain.images])
    convs = [m for m in tiny_engine.pipe.unet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.padding_mode == "zeros" for c in convs)  # restored after the call


def test_aspect_ratio_sizes(tiny_engine: Any) -> None:
    [wide] = tiny_engine.generate([gen_request(size=(192, 128), steps=3)])
    assert (wide.width, wide.height) == (192, 128)
    assert open_image(wide.images[0]).size == (192, 128)


def test_subtle_variation_stays_closer_than_strong(tiny_engine: Any) -> None:
    [src] = tiny_engine.generate([gen_request(seed=11, steps=10)])
    source = src.images[0]

    def vary(strength: float) -> float:
        [res] = tiny_engine.generate(
            [gen_request(kind="variation", seed=99, steps=10, source_png=source, strength=strength)]
        )
        assert len(res.images) == 4 and (res.width, res.height) == (128, 128)
        return float(np.mean([distance(source, im) for im in res.images]))

    assert vary(0.4) < vary(0.8)


def test_variation_matches_plain_diffusers_img2img(tiny_engine: Any) -> None:
    [src] = tiny_engine.generate([gen_request(seed=12, steps=4)])
    req = gen_request(
        "a red fox in snow", kind="variation", seed=5, steps=10, source_png=src.images[0], strength=0.4
    )
    [res] = tiny_engine.generate([req])
    raw = tiny_engine.img2img(
        "a red fox in snow",
        image=open_image(src.images[0]),
        strength=0.4,
        num_inference_steps=10,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(5 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images


def test_upscale_doubles_width_and_height(tiny_engine: Any) -> None:
    [src] = tiny_engine.generate([gen_request(seed=13, size=(128, 96), steps=3)])
    req = gen_request(kind="upscale", size=(128, 96), steps=8, source_png=src.images[2], strength=0.25)
    [up] = tiny_engine.generate([req])
    assert len(up.images) == 1
    assert (up.width, up.height) == (256, 192) == open_image(up.images[0]).size


def test_progress_reports_every_step_with_previews(tiny_engine: Any) -> None:
    seen: list[GenProgress] = []
    tiny_engine.generate([gen_request(job_id="a"), gen_request(job_id="b", seed=9)], progress=seen.append)
    assert [p.step for p in seen] == list(range(1, len(seen) + 1)) and len(seen) >= 6
    last = seen[-1]
    assert last.job_ids == ("a", "b") and last.percent == 100
    assert set(last.previews) == {"a", "b"} and last.preview_jpeg == last.previews["a"]
    preview = open_image(last.previews["b"])
    assert max(preview.size) == 256 and last.previews["b"][:2] == b"\xff\xd8"  # a JPEG


def test_previews_are_throttled(tiny_pipe: Any) -> None:
    from gen.engine import DiffusersEngine

    engine = DiffusersEngine(tiny_pipe, model_id="tiny", preview_interval=3600)
    seen: list[GenProgress] = []
    engine.generate([gen_request(steps=4)], progress=seen.append)
    assert seen and not any(p.previews for p in seen)


def test_cancellation_stops_between_steps(tiny_engine: Any) -> None:
    steps: list[int] = []
    with pytest.raises(GenerationCancelled):
        tiny_engine.generate(
            [gen_request(job_id="a", steps=20), gen_request(job_id="b", steps=20)],
            progress=lambda p: steps.append(p.step),
            is_cancelled=lambda job_id: len(steps) >= 2,
        )
    assert steps == [1, 2]
    # Only one job cancelled: the batch runs on and returns every job.
    results = tiny_engine.generate(
        [gen_request(job_id="a"), gen_request(job_id="b")], is_cancelled=lambda job_id: job_id == "a"
    )
    assert [r.job_id for r in results] == ["a", "b"]
    with pytest.raises(GenerationCancelled):
        tiny_engine.generate([gen_request()], is_cancelled=lambda job_id: True)


def test_out_of_memory_splits_the_batch(tiny_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tiny_engine._run
    sizes: list[int] = []

    def run(batch: list[Any], progress: Any, is_cancelled: Any) -> Any:
        sizes.append(len(batch))
        if len(batch) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(batch, progress, is_cancelled)

    monkeypatch.setattr(tiny_engine, "_run", run)
    reqs = [gen_request(job_id=j, steps=2) for j in "abc"]
    results = tiny_engine.generate(reqs)
    assert [r.job_id for r in results] == ["a", "b", "c"]
    assert sizes == [3, 1, 2, 1, 1]


def test_out_of_memory_for_one_job_fails_that_job_alone(
    tiny_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job too large for the device even alone fails (not retried), and the rest of its batch keeps
    its images."""
    real = tiny_engine._run

    def run(batch: list[Any], progress: Any, is_cancelled: Any) -> Any:
        if any(r.job_id == "big" for r in batch):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(batch, progress, is_cancelled)

    monkeypatch.setattr(tiny_engine, "_run", run)
    ok, big = (gen_request(job_id=j, steps=2, size=(192, 128)) for j in ("ok", "big"))
    results = tiny_engine.generate([ok, big])
    assert [(r.job_id, len(r.images), r.failure) for r in results] == [
        ("ok", 4, None), ("big", 0, Failure.OUT_OF_MEMORY),
    ]  # fmt: skip
    assert results[1].detail == "192×128"
    assert not tiny_engine.pipe.vae.use_tiling  # the low-memory retry is undone


def test_bad_input_fails_that_job_alone_and_other_errors_are_transient(
    tiny_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = solid_png(128, 128, (200, 120, 40))
    good = gen_request(job_id="good", kind="variation", strength=0.4, steps=2, source_png=source)
    bad = gen_request(job_id="bad", kind="variation", strength=0.4, steps=2)  # no source image
    results = tiny_engine.generate([good, bad])
    assert [(r.job_id, len(r.images), r.failure) for r in results] == [
        ("good", 4, None), ("bad", 0, Failure.BAD_INPUT),
    ]  # fmt: skip
    assert results[1].detail == "variation job bad has no source image"

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA error: an illegal memory access\nTraceback details that must not reach you")

    monkeypatch.setattr(type(tiny_engine.pipe), "__call__", boom)
    with pytest.raises(TransientGenerationError) as err:
        tiny_engine.generate([gen_request()])
    assert str(err.value) == "image generation failed: RuntimeError: CUDA error: an illegal memory access"
