"""Image inputs on the tiny model: ControlNet, IP-Adapter and the /describe captioner, each against plain
diffusers/transformers on tiny random components (gen.tiny_inputs), offline."""

from __future__ import annotations

import gc
import json
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from gen import ip_adapter as ipa
from gen.captioner import MAX_CHARS, Captioner, four_prompts
from gen.controlnet import controlnet_pipeline, load_controlnet, unload_controlnet
from gen.loader import ModelLoadError, load_pipeline
from gen.tiny_inputs import IP_ADAPTER_WEIGHT
from imaginebot.core.images import png_bytes

PROMPT = "a red fox in snow"
STEPS = 3
SEEDS = (11, 12)


def run(pipe: Any, **kwargs: Any) -> np.ndarray:
    """Two 64×64 images (seeds SEEDS) as a float array."""
    gens = [torch.Generator("cpu").manual_seed(s) for s in SEEDS]
    out = pipe(
        PROMPT,
        width=64,
        height=64,
        num_inference_steps=STEPS,
        num_images_per_prompt=len(SEEDS),
        generator=gens,
        output_type="np",
        **kwargs,
    ).images
    return np.asarray(out, dtype=np.float64)


def control_square() -> Image.Image:
    img = Image.new("RGB", (64, 64))
    ImageDraw.Draw(img).rectangle((16, 16, 47, 47), outline="white", width=2)
    return img


def control_diagonal() -> Image.Image:
    img = Image.new("RGB", (64, 64))
    ImageDraw.Draw(img).line((0, 0, 63, 63), fill="white", width=2)
    return img


def reference(kind: int) -> Image.Image:
    if kind == 0:
        return Image.new("RGB", (80, 72), (20, 200, 40))
    rng = np.random.default_rng(kind)
    return Image.fromarray(rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)).resize((80, 80))


@pytest.fixture(scope="session")
def inputs_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`controlnet/`, `ip-adapter/` and `captioner/` for the tiny SD 1.x model."""
    from gen.tiny_inputs import make_tiny_captioner, make_tiny_controlnet, make_tiny_ip_adapter

    root = tmp_path_factory.mktemp("tiny-inputs")
    make_tiny_controlnet(tiny_model_dir, root / "controlnet", seed=1)
    make_tiny_ip_adapter(tiny_model_dir, root / "ip-adapter", seed=2)
    make_tiny_captioner(root / "captioner", seed=3)
    return root


@pytest.fixture(scope="module")
def pipe(tiny_model_dir: Path) -> Any:
    """This module's own tiny pipeline (the tests load adapters into it; the shared one stays clean)."""
    return load_pipeline(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def base(pipe: Any) -> np.ndarray:
    return run(pipe)


# --- ControlNet -------------------------------------------------------------------------------------


def test_controlnet_matches_plain_diffusers(pipe: Any, inputs_dir: Path, tiny_model_dir: Path) -> None:
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    ours = controlnet_pipeline(pipe, load_controlnet(inputs_dir / "controlnet", torch.float32, "cpu"))
    plain = StableDiffusionControlNetPipeline.from_pretrained(
        tiny_model_dir,
        controlnet=ControlNetModel.from_pretrained(inputs_dir / "controlnet"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    plain.set_progress_bar_config(disable=True)
    for scale in (1.0, 0.6):
        expected = run(plain, image=control_square(), controlnet_conditioning_scale=scale)
        assert np.array_equal(
            run(ours, image=control_square(), controlnet_conditioning_scale=scale), expected
        )


def test_control_image_matters_and_scale_zero_is_txt2img(
    pipe: Any, base: np.ndarray, inputs_dir: Path
) -> None:
    ours = controlnet_pipeline(pipe, load_controlnet(inputs_dir / "controlnet", torch.float32, "cpu"))
    square = run(ours, image=control_square())
    diagonal = run(ours, image=control_diagonal())
    assert np.abs(square - diagonal).mean() > 0.05  # different control maps, clearly different pictures
    assert np.abs(square - base).mean() > 0.05
    # Scale 0 multiplies every ControlNet residual by 0: the UNet adds exact zeros, so the pictures are
    # bit-identical to plain text-to-image.
    assert np.array_equal(run(ours, image=control_square(), controlnet_conditioning_scale=0.0), base)


def test_controlnet_pipeline_shares_weights_and_frees_the_controlnet(pipe: Any, inputs_dir: Path) -> None:
    controlnet = load_controlnet(str(inputs_dir / "controlnet"), torch.float32, "cpu", kind="depth")
    cn_pipe = controlnet_pipeline(pipe, controlnet, kind="depth")
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        assert getattr(cn_pipe, name) is getattr(pipe, name), name
    assert cn_pipe.controlnet is controlnet
    assert getattr(pipe, "controlnet", None) is None  # the base pipeline is untouched
    ref = weakref.ref(controlnet)
    unload_controlnet(cn_pipe)
    assert cn_pipe.controlnet is None
    del controlnet, cn_pipe
    gc.collect()
    assert ref() is None  # nothing else held on to it


def test_load_controlnet_errors_name_the_setting(
    inputs_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    cases = [
        ("", "is empty"),
        (str(tmp_path / "missing" / "cn"), "not a folder"),
        (str(tmp_path / "empty"), "no config.json"),
        (str(tiny_model_dir / "unet"), "UNet2DConditionModel"),
        ("someone/not-cached-controlnet", "not in the local Hugging Face cache"),
    ]
    for ref, message in cases:
        with pytest.raises(ModelLoadError, match=message) as err:
            load_controlnet(ref, torch.float32, "cpu", kind="pose")
        assert "gen.controlnets.pose" in str(err.value)
        assert "\n" not in str(err.value)


def test_controlnet_for_another_family_is_refused(pipe: Any, inputs_dir: Path, tiny_model_dir: Path) -> None:
    controlnet = load_controlnet(inputs_dir / "controlnet", torch.float32, "cpu")
    controlnet.register_to_config(cross_attention_dim=64)  # pretend it belongs to a wider model
    with pytest.raises(ModelLoadError, match="another model family"):
        controlnet_pipeline(pipe, controlnet, kind="tile")


def test_sdxl_controlnet_matches_plain_diffusers(tiny_sdxl_dir: Path, tmp_path: Path) -> None:
    from diffusers import ControlNetModel, StableDiffusionXLControlNetPipeline

    from gen.tiny_inputs import make_tiny_controlnet

    folder = make_tiny_controlnet(tiny_sdxl_dir, tmp_path / "controlnet-xl", seed=4)
    xl = load_pipeline(str(tiny_sdxl_dir), device="cpu")
    ours = controlnet_pipeline(xl, load_controlnet(folder, torch.float32, "cpu"))
    assert isinstance(ours, StableDiffusionXLControlNetPipeline)
    assert ours.unet is xl.unet and ours.text_encoder_2 is xl.text_encoder_2
    plain = StableDiffusionXLControlNetPipeline.from_pretrained(
        tiny_sdxl_dir, controlnet=ControlNetModel.from_pretrained(folder)
    )
    plain.set_progress_bar_config(disable=True)
    square = run(ours, image=control_square())
    assert np.array_equal(square, run(plain, image=control_square()))
    assert np.abs(square - run(ours, image=control_diagonal())).mean() > 0.01


# --- IP-Adapter -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ip_pipe(tiny_model_dir: Path, inputs_dir: Path) -> Any:
    """A tiny pipeline with the tiny IP-Adapter loaded through gen.ip_adapter."""
    pipe = load_pipeline(str(tiny_model_dir), device="cpu")
    ipa.load_ip_adapter(pipe, inputs_dir / "ip-adapter", IP_ADAPTER_WEIGHT)
    assert ipa.is_loaded(pipe)
    return pipe


def test_ip_adapter_matches_plain_diffusers(ip_pipe: Any, inputs_dir: Path, tiny_model_dir: Path) -> None:
    from diffusers import StableDiffusionPipeline

    plain = StableDiffusionPipeline.from_pretrained(tiny_model_dir, safety_checker=None)
    plain.set_progress_bar_config(disable=True)
    plain.load_ip_adapter(str(inputs_dir / "ip-adapter"), subfolder="", weight_name=IP_ADAPTER_WEIGHT)
    scale = ipa.iw_to_scale(1.0)
    plain.set_ip_adapter_scale(scale)
    ipa.set_scale(ip_pipe, scale)
    image = reference(1)
    assert np.array_equal(run(ip_pipe, ip_adapter_image=image), run(plain, ip_adapter_image=image))


def test_stored_embeds_give_the_same_image(ip_pipe: Any) -> None:
    ipa.set_scale(ip_pipe, 0.7)
    image = reference(2)
    embeds = ipa.image_embeds(ip_pipe, png_bytes(image))
    assert embeds.shape == (2, 1, 32)
    assert not embeds[0].any()  # the unconditional half: zeros, as diffusers makes it
    stored = ipa.embeds_from_bytes(ipa.embeds_to_bytes(embeds))
    assert torch.equal(stored, embeds)
    with_image = run(ip_pipe, ip_adapter_image=image)
    assert np.array_equal(run(ip_pipe, ip_adapter_image_embeds=ipa.call_embeds(stored, True)), with_image)
    # Without classifier-free guidance only the image half is passed; again the same as the image.
    no_cfg = run(ip_pipe, ip_adapter_image=image, guidance_scale=1.0)
    embeds_no_cfg = ipa.call_embeds(stored, False)
    assert np.array_equal(run(ip_pipe, ip_adapter_image_embeds=embeds_no_cfg, guidance_scale=1.0), no_cfg)
    with pytest.raises(ValueError, match="IP-Adapter embeddings"):
        ipa.embeds_from_bytes(b"not safetensors")


def test_several_images_are_encoded_together(ip_pipe: Any) -> None:
    ipa.set_scale(ip_pipe, 0.5)
    pair = ipa.image_embeds(ip_pipe, [reference(1), reference(2)])
    assert pair.shape == (2, 2, 32)
    assert torch.allclose(pair[1, 1], ipa.image_embeds(ip_pipe, reference(2))[1, 0], atol=1e-5)
    both = run(ip_pipe, ip_adapter_image_embeds=ipa.call_embeds(pair, True))
    one = run(ip_pipe, ip_adapter_image=reference(1))
    assert np.abs(both - one).mean() > 0.001


def test_scale_zero_is_plain_and_positive_scales_differ(ip_pipe: Any, base: np.ndarray) -> None:
    image = reference(0)
    ipa.set_scale(ip_pipe, ipa.iw_to_scale(0))
    assert np.array_equal(run(ip_pipe, ip_adapter_image=image), base)
    ipa.set_scale(ip_pipe, ipa.iw_to_scale(1))
    mid = run(ip_pipe, ip_adapter_image=image)
    ipa.set_scale(ip_pipe, ipa.iw_to_scale(3))
    full = run(ip_pipe, ip_adapter_image=image)
    assert np.abs(mid - base).mean() > 0.01
    assert np.abs(full - base).mean() > np.abs(mid - base).mean()  # more weight, further from no image
    assert np.abs(run(ip_pipe, ip_adapter_image=reference(1)) - full).mean() > 0.005  # the image matters
    ipa.set_style_scale(ip_pipe, ipa.sw_to_style_scale(100))
    style = run(ip_pipe, ip_adapter_image=image)
    assert np.abs(style - base).mean() > 0.001 and not np.array_equal(style, full)


def test_unload_restores_bit_identical_output(tiny_model_dir: Path, inputs_dir: Path) -> None:
    pipe = load_pipeline(str(tiny_model_dir), device="cpu")
    before = run(pipe)
    ipa.load_ip_adapter(pipe, str(inputs_dir / "ip-adapter"), IP_ADAPTER_WEIGHT)
    ipa.set_scale(pipe, 1.0)
    assert not np.array_equal(run(pipe, ip_adapter_image=reference(1)), before)
    ipa.unload(pipe)
    assert not ipa.is_loaded(pipe)
    assert pipe.image_encoder is None and pipe.feature_extractor is None
    assert np.array_equal(run(pipe), before)
    with pytest.raises(ModelLoadError, match=r"gen\.ip_adapter"):
        ipa.image_embeds(pipe, reference(1))


def test_load_ip_adapter_errors_name_the_setting(tiny_model_dir: Path, inputs_dir: Path) -> None:
    pipe = load_pipeline(str(tiny_model_dir), device="cpu")
    cases = [
        ("", IP_ADAPTER_WEIGHT, "is empty"),
        (str(inputs_dir / "ip-adapter"), "ip-adapter_missing.safetensors", "no ip-adapter_missing"),
        ("someone/not-cached-ip-adapter", IP_ADAPTER_WEIGHT, "not in the local Hugging Face cache"),
    ]
    for ref, weight, message in cases:
        with pytest.raises(ModelLoadError, match=message) as err:
            ipa.load_ip_adapter(pipe, ref, weight)
        assert str(err.value).startswith("gen.ip_adapter")
    assert not ipa.is_loaded(pipe)


def test_weight_mappings_are_monotone_and_clamped() -> None:
    assert ipa.iw_to_scale(0) == 0.0 and ipa.iw_to_scale(1) == 0.5 and ipa.iw_to_scale(3) == 1.0
    assert ipa.sw_to_style_scale(0) == 0.0 and ipa.sw_to_style_scale(100) == 0.5
    assert ipa.sw_to_style_scale(1000) == 1.0
    assert ipa.iw_to_strength(0) == 1.0 and ipa.iw_to_strength(1) == 0.75
    assert ipa.iw_to_strength(3) == pytest.approx(0.35)
    iws = np.linspace(-1, 4, 101)
    scales = [ipa.iw_to_scale(x) for x in iws]
    strengths = [ipa.iw_to_strength(x) for x in iws]
    styles = [ipa.sw_to_style_scale(x) for x in np.linspace(-10, 1200, 121)]
    assert scales == sorted(scales) and styles == sorted(styles)
    assert strengths == sorted(strengths, reverse=True)
    assert all(0 < s <= 1 for s in strengths) and all(0 <= s <= 1 for s in scales + styles)


# --- Captioner --------------------------------------------------------------------------------------


def test_captioner_gives_four_distinct_prompts_deterministically(inputs_dir: Path) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    captioner = Captioner(inputs_dir / "captioner")
    png = png_bytes(reference(1))
    prompts = captioner.describe(png)
    assert len(prompts) == 4 and len(set(prompts)) == 4
    assert all(p and p == p.strip() and len(p) <= MAX_CHARS for p in prompts)
    assert Captioner(str(inputs_dir / "captioner")).describe(png) == prompts  # a fresh load, same prompts
    assert captioner.describe(reference(0)) != prompts  # another picture, other prompts


def test_captioner_folder_is_plain_transformers(inputs_dir: Path) -> None:
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    folder = inputs_dir / "captioner"
    model = AutoModelForImageTextToText.from_pretrained(folder)
    pixels = AutoImageProcessor.from_pretrained(folder)(images=reference(1), return_tensors="pt").pixel_values
    out = model.generate(pixel_values=pixels, max_new_tokens=5, do_sample=False)
    assert isinstance(AutoTokenizer.from_pretrained(folder).decode(out[0]), str)
    assert json.loads((folder / "config.json").read_text())["model_type"] == "vision-encoder-decoder"


def test_four_prompts_tops_up_repeats_and_empties() -> None:
    assert four_prompts(["a", "b", "c", "d", "e"]) == ["a", "b", "c", "d"]
    topped = four_prompts(["  a fox ,", "a fox", "A FOX", "", "   "])
    assert topped[0] == "a fox" and len(set(topped)) == 4 and all(p.startswith("a fox") for p in topped)
    nothing = four_prompts(["", " ", ".."])
    assert len(set(nothing)) == 4 and all(nothing)
    long = four_prompts(["word " * 100])
    assert all(len(p) <= MAX_CHARS for p in long) and len(set(long)) == 4


def test_captioner_errors_name_the_setting(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for ref, message in [
        ("", "is empty"),
        (str(tmp_path / "empty"), "no config.json"),
        (str(tmp_path / "nope" / "x"), "not a model folder"),
        ("someone/not-cached-captioner", "not in the local Hugging Face cache"),
    ]:
        with pytest.raises(ModelLoadError, match=message) as err:
            Captioner(ref)
        assert str(err.value).startswith("gen.captioner")
