"""Image prompts in the engine on the tiny model: IP-Adapter (gen.ip_adapter) against plain diffusers with
the same seeds, embeddings computed once and reused, and the img2img fallback without an adapter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fixtures_model import gen_request
from PIL import Image, ImageDraw

from gen import ip_adapter as ipa
from gen.engine import DiffusersEngine
from gen.image_prompts import adapter_location
from gen.loader import ModelLoadError, load_pipeline
from gen.tiny_inputs import IP_ADAPTER_WEIGHT
from imaginebot.core.domain import GenRequest
from imaginebot.core.images import open_image, png_bytes

PROMPT = "a red fox in snow"
SIZE = (64, 64)


def picture(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return png_bytes(Image.fromarray(small).resize(SIZE, Image.Resampling.NEAREST))


def image_job(iw: float, *images: bytes, seed: int = 21, job_id: str = "job-1") -> GenRequest:
    return replace(gen_request(PROMPT, job_id=job_id, seed=seed, size=SIZE, steps=4, iw=iw), images=images)


def distance(a: bytes, b: bytes) -> float:
    return float(np.abs(np.asarray(open_image(a), float) - np.asarray(open_image(b), float)).mean())


@pytest.fixture(scope="module")
def adapter_file(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen.tiny_inputs import make_tiny_ip_adapter

    folder = make_tiny_ip_adapter(tiny_model_dir, tmp_path_factory.mktemp("ipa") / "ip-adapter", seed=2)
    return folder / IP_ADAPTER_WEIGHT


@pytest.fixture(scope="module")
def ip_engine(tiny_model_dir: Path, adapter_file: Path) -> DiffusersEngine:
    pipe = load_pipeline(str(tiny_model_dir), device="cpu")
    return DiffusersEngine(pipe, model_id="tiny", preview_interval=0.0, ip_adapter=str(adapter_file))


def test_image_prompt_through_ip_adapter_matches_plain_diffusers(
    ip_engine: DiffusersEngine, tiny_model_dir: Path, adapter_file: Path
) -> None:
    from diffusers import StableDiffusionPipeline

    image = picture(1)
    [res] = ip_engine.generate([image_job(2.0, image)])
    assert ip_engine.image_prompts.loaded
    plain = StableDiffusionPipeline.from_pretrained(tiny_model_dir, safety_checker=None)
    plain.set_progress_bar_config(disable=True)
    plain.load_ip_adapter(str(adapter_file.parent), subfolder="", weight_name=adapter_file.name)
    plain.set_ip_adapter_scale(ipa.iw_to_scale(2.0))
    raw = plain(
        PROMPT,
        ip_adapter_image=open_image(image),
        width=64,
        height=64,
        num_inference_steps=4,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(21 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images
    # The embeddings come back to be stored with the job; a rerun carrying them gives the same images
    # without encoding the image again (nothing new comes back).
    assert res.image_embeds is not None
    again = replace(image_job(2.0, image), image_embeds=res.image_embeds)
    [rerun] = ip_engine.generate([again])
    assert rerun.images == res.images and rerun.image_embeds is None


def test_adapter_is_unloaded_for_plain_batches_and_images_matter(
    ip_engine: DiffusersEngine, tiny_engine: Any
) -> None:
    [one] = ip_engine.generate([image_job(1.0, picture(1))])
    [other] = ip_engine.generate([image_job(1.0, picture(2))])
    assert one.images != other.images
    [plain] = ip_engine.generate([gen_request(PROMPT, seed=21, size=SIZE, steps=4)])
    assert not ip_engine.image_prompts.loaded  # weights kept only while batches use them
    [reference] = tiny_engine.generate([gen_request(PROMPT, seed=21, size=SIZE, steps=4)])
    assert plain.images == reference.images


def test_two_jobs_with_image_prompts_batch_together(ip_engine: DiffusersEngine) -> None:
    a, b = image_job(1.0, picture(1), job_id="a"), image_job(1.0, picture(2), job_id="b", seed=30)
    assert a.batch_key() == b.batch_key()
    assert a.batch_key() != image_job(2.0, picture(1)).batch_key()  # another scale
    assert a.batch_key() != image_job(1.0, picture(1), picture(2)).batch_key()  # another image count
    assert a.batch_key() != replace(a, images=()).batch_key()  # plain text-to-image
    together = ip_engine.generate([a, b])
    [alone_b] = ip_engine.generate([b])
    assert [r.job_id for r in together] == ["a", "b"]
    assert all(r.image_embeds is not None for r in together)
    got = np.asarray(open_image(together[1].images[0]), float)
    assert np.abs(got - np.asarray(open_image(alone_b.images[0]), float)).max() <= 2  # batch numerics


def test_without_an_adapter_a_higher_iw_stays_closer_to_the_image(tiny_engine: Any) -> None:
    image = picture(3)
    [low] = tiny_engine.generate([image_job(0.5, image)])
    [high] = tiny_engine.generate([image_job(3.0, image)])
    assert low.image_embeds is None and len(high.images) == 4 and (high.width, high.height) == SIZE
    far = np.mean([distance(image, im) for im in low.images])
    near = np.mean([distance(image, im) for im in high.images])
    assert near < far
    raw = tiny_engine.img2img(
        PROMPT,
        image=open_image(image),
        strength=ipa.iw_to_strength(3.0),
        num_inference_steps=4,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(21 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == high.images


def test_adapter_setting_forms(tmp_path: Path) -> None:
    weights = tmp_path / "ipa" / "ip-adapter_sd15.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    assert adapter_location(str(weights)) == (str(weights.parent), "", weights.name)
    assert adapter_location(str(weights.parent)) == (str(weights.parent), "", weights.name)
    assert adapter_location("h94/IP-Adapter/models/ip-adapter_sd15.safetensors") == (
        "h94/IP-Adapter", "models", "ip-adapter_sd15.safetensors"
    )
    for bad, message in (("h94/IP-Adapter", "must name"), ("x/y.safetensors", "neither")):
        with pytest.raises(ModelLoadError, match=message) as err:
            adapter_location(bad)
        assert "gen.ip_adapter" in str(err.value)


def test_style_reference_uses_the_style_scale_like_plain_diffusers(
    ip_engine: DiffusersEngine, tiny_model_dir: Path, adapter_file: Path
) -> None:
    from diffusers import StableDiffusionPipeline

    image = picture(4)
    style = replace(
        gen_request(PROMPT, seed=21, size=SIZE, steps=4, sref=("https://cdn.discordapp.com/s.png",), sw=250),
        images=(image,),
    )
    assert style.batch_key() != image_job(1.0, image).batch_key()  # another adapter scale
    [res] = ip_engine.generate([style])
    plain = StableDiffusionPipeline.from_pretrained(tiny_model_dir, safety_checker=None)
    plain.set_progress_bar_config(disable=True)
    plain.load_ip_adapter(str(adapter_file.parent), subfolder="", weight_name=adapter_file.name)
    plain.set_ip_adapter_scale(ipa.style_scale_config(plain, ipa.sw_to_style_scale(250)))
    raw = plain(
        PROMPT,
        ip_adapter_image=open_image(image),
        width=64,
        height=64,
        num_inference_steps=4,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(21 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images
    [as_prompt] = ip_engine.generate([image_job(1.0, image)])
    assert as_prompt.images != res.images


def test_style_reference_without_an_adapter_fails_naming_the_setting(tiny_engine: Any) -> None:
    style = replace(gen_request(PROMPT, size=SIZE, steps=2, sref=("https://a/b.png",)), images=(picture(1),))
    [res] = tiny_engine.generate([style])
    assert res.failure is not None and res.failure.value == "bad_input" and "gen.ip_adapter" in res.detail


def test_without_an_adapter_several_images_start_from_their_mix(tiny_engine: Any) -> None:
    red = png_bytes(Image.new("RGB", SIZE, (230, 10, 10)))
    blue = png_bytes(Image.new("RGB", (96, 80), (10, 10, 230)))
    [res] = tiny_engine.generate([image_job(3.0, red, blue)])
    grid = np.mean([np.asarray(open_image(im), float) for im in res.images], axis=0)
    r, g, b = (grid[..., k].mean() for k in range(3))
    assert r > g + 30 and b > g + 30  # red and blue both show: a purple mix


# --- ControlNet (--cn / --cw) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def controlnet_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen.tiny_inputs import make_tiny_controlnet

    return make_tiny_controlnet(tiny_model_dir, tmp_path_factory.mktemp("cn") / "canny", seed=1)


def edge_map() -> bytes:
    from imaginebot.core.canny import canny_map

    img = Image.new("RGB", SIZE)
    ImageDraw.Draw(img).rectangle((16, 16, 47, 47), fill="white")
    return png_bytes(canny_map(img))


def control_job(cw: float, seed: int = 21, job_id: str = "job-1") -> GenRequest:
    req = gen_request(PROMPT, job_id=job_id, seed=seed, size=SIZE, steps=4, cn="canny", cw=cw)
    return replace(req, images=(edge_map(),))


def test_controlnet_matches_plain_diffusers_and_is_released(
    tiny_model_dir: Path, controlnet_dir: Path, tiny_engine: Any
) -> None:
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    pipe = load_pipeline(str(tiny_model_dir), device="cpu")
    engine = DiffusersEngine(pipe, model_id="tiny", controlnets={"canny": str(controlnet_dir)})
    [res] = engine.generate([control_job(0.8)])
    assert engine.image_prompts.controls.kind == "canny"
    plain = StableDiffusionControlNetPipeline.from_pretrained(
        tiny_model_dir, controlnet=ControlNetModel.from_pretrained(controlnet_dir), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    plain.set_progress_bar_config(disable=True)
    raw = plain(
        PROMPT,
        image=open_image(edge_map()),
        controlnet_conditioning_scale=0.8,
        width=64,
        height=64,
        num_inference_steps=4,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(21 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images
    assert control_job(0.8).batch_key() != control_job(1.0).batch_key()  # another weight
    [plain_job] = engine.generate([gen_request(PROMPT, seed=21, size=SIZE, steps=4)])
    assert engine.image_prompts.controls.pipe_cn is None  # released when unused
    [reference] = tiny_engine.generate([gen_request(PROMPT, seed=21, size=SIZE, steps=4)])
    assert plain_job.images == reference.images != res.images


def test_controlnet_kind_not_configured_fails_naming_the_setting(tiny_engine: Any) -> None:
    [res] = tiny_engine.generate([control_job(1.0)])
    assert res.failure is not None and "gen.controlnets.canny" in res.detail


def test_a_variation_keeps_its_image_prompt_like_plain_diffusers(
    ip_engine: DiffusersEngine, tiny_model_dir: Path, adapter_file: Path
) -> None:
    from diffusers import StableDiffusionImg2ImgPipeline

    image, source = picture(5), picture(6)
    [grid] = ip_engine.generate([image_job(1.0, image)])
    variation = replace(
        gen_request(PROMPT, kind="variation", seed=33, size=SIZE, steps=4, source_png=source, strength=0.6),
        images=(image,), image_embeds=grid.image_embeds,
    )  # fmt: skip
    [res] = ip_engine.generate([variation])
    assert res.image_embeds is None  # the grid's embeddings, not encoded again
    plain = StableDiffusionImg2ImgPipeline.from_pretrained(tiny_model_dir, safety_checker=None)
    plain.set_progress_bar_config(disable=True)
    plain.load_ip_adapter(str(adapter_file.parent), subfolder="", weight_name=adapter_file.name)
    plain.set_ip_adapter_scale(ipa.iw_to_scale(1.0))
    raw = plain(
        PROMPT,
        image=open_image(source),
        strength=0.6,
        ip_adapter_image=open_image(image),
        num_inference_steps=4,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(33 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images


def test_a_retry_after_a_device_error_does_not_encode_the_image_again(
    ip_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imaginebot.core.domain import TransientGenerationError

    encoded: list[int] = []
    encode = ipa.image_embeds
    monkeypatch.setattr(ipa, "image_embeds", lambda pipe, images: encoded.append(1) or encode(pipe, images))
    call = DiffusersEngine._call
    failing = [True]

    def flaky(self: DiffusersEngine, *args: Any, **kwargs: Any) -> Any:
        if failing.pop() if failing else False:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return call(self, *args, **kwargs)

    monkeypatch.setattr(DiffusersEngine, "_call", flaky)
    job = image_job(1.0, picture(7), job_id="retried")
    with pytest.raises(TransientGenerationError):
        ip_engine.generate([job])
    [res] = ip_engine.generate([job])
    assert len(encoded) == 1 and res.image_embeds is not None and len(res.images) == 4
    [again] = ip_engine.generate([job])
    assert len(encoded) == 2 and again.images == res.images  # a new run without stored ones: encoded anew
