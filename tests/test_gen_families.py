"""SD 3/3.5 and FLUX.1 through DiffusersEngine, on their tiny models (gen.tiny_families).

The same guarantees as for SD 1.x (tests/test_gen_engine.py): one job's images are bit-identical to a
plain diffusers call with the same generators, a cross-job batch matches single runs, progress comes
every step, variations (img2img) and the edits (inpainting) run, and the family is detected from the
saved folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fixtures_model import gen_request

from imaginebot.core.domain import Failure, GenProgress
from imaginebot.core.images import open_image, png_bytes

FAMILIES = ("sd3", "flux")
GUIDANCE = {"sd3": 5.0, "flux": 3.5}  # FLUX: the distilled guidance of FLUX.1-dev, no negative pass
STEPS = 4


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(open_image(png)).astype(np.float64)


@pytest.fixture(scope="module", params=FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def family_dir(family: str, request: pytest.FixtureRequest) -> Path:
    return Path(request.getfixturevalue(f"tiny_{family}_dir"))


@pytest.fixture(scope="module")
def engine(family_dir: Path) -> Any:
    from gen.engine import DiffusersEngine
    from gen.loader import load_pipeline

    return DiffusersEngine(
        load_pipeline(str(family_dir), device="cpu"), model_id="tiny", preview_interval=0.0
    )


def request(family: str, prompt: str = "a red fox in snow", **kw: Any) -> Any:
    kw.setdefault("steps", STEPS)
    kw.setdefault("guidance_scale", GUIDANCE[family])
    return gen_request(prompt, **kw)


def test_family_is_detected_from_the_folder(family: str, family_dir: Path, engine: Any) -> None:
    from imaginebot.core.modelinfo import folder_family

    assert folder_family(family_dir) == family
    assert engine.family == family
    assert engine.native_resolution == (512 if family == "sd3" else 1024)


def test_bit_identical_to_plain_diffusers(family: str, engine: Any) -> None:
    [res] = engine.generate([request(family, seed=42, size=(128, 96))])
    raw = engine.pipe(
        "a red fox in snow",
        width=128,
        height=96,
        num_inference_steps=STEPS,
        guidance_scale=GUIDANCE[family],
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(42 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == res.images
    assert len(set(res.images)) == 4
    assert (res.width, res.height) == (128, 96)


def test_cross_job_batch_matches_single_runs(family: str, engine: Any) -> None:
    reqs = [
        request(family, "a red fox", job_id="a", seed=1),
        request(family, "a blue bird", job_id="b", seed=77),
    ]
    batched = engine.generate(reqs)
    assert [r.job_id for r in batched] == ["a", "b"]
    for res, req in zip(batched, reqs, strict=True):
        [single] = engine.generate([req])
        worst = max(
            float(np.abs(pixels(x) - pixels(y)).max()) for x, y in zip(res.images, single.images, strict=True)
        )
        assert worst <= 2, f"{req.job_id}: batched differs from single by {worst}"


def test_progress_every_step_with_previews_and_stop(family: str, engine: Any) -> None:
    seen: list[GenProgress] = []
    engine.generate([request(family, job_id="a"), request(family, job_id="b", seed=9)], progress=seen.append)
    assert [p.step for p in seen] == list(range(1, STEPS + 1))
    assert all(set(p.previews) == {"a", "b"} for p in seen)
    assert open_image(seen[-1].previews["a"]).size == (256, 256)
    stopped: list[GenProgress] = []
    [res] = engine.generate([request(family, stop=50)], progress=stopped.append)
    assert [p.step for p in stopped] == [1, 2] and len(res.images) == 4


def test_chaos_tile_and_prompt_change_the_images(family: str, engine: Any) -> None:
    [plain] = engine.generate([request(family, seed=3)])
    [chaos] = engine.generate([request(family, seed=3, chaos=60)])
    [tiled] = engine.generate([request(family, seed=3, tile=True)])
    [other] = engine.generate([request(family, "a lighthouse at dusk", seed=3)])
    assert len({plain.images[1], chaos.images[1], tiled.images[1], other.images[1]}) == 4
    [again] = engine.generate([request(family, seed=3, chaos=60)])
    assert again.images == chaos.images


def test_variation_and_upscale(family: str, engine: Any) -> None:
    [src] = engine.generate([request(family, seed=12, size=(128, 96))])
    var = request(family, kind="variation", seed=5, size=(128, 96), source_png=src.images[0], strength=0.5)
    [res] = engine.generate([var])
    assert len(res.images) == 4 and (res.width, res.height) == (128, 96)
    [again] = engine.generate([var])
    assert again.images == res.images
    up = request(family, kind="upscale", size=(128, 96), source_png=src.images[1], strength=0.3)
    [big] = engine.generate([up])
    assert (big.width, big.height) == (256, 192) == open_image(big.images[0]).size


def test_edits_run_through_the_inpainting_pipeline(family: str, engine: Any) -> None:
    from imaginebot.core.edits import zoom_out

    [src] = engine.generate([request(family, seed=21, size=(96, 64))])
    plan = zoom_out((96, 64), 2.0)
    req = request(family, kind="zoom_out", size=(96, 64), source_png=src.images[0], edit=plan)
    [res] = engine.generate([req])
    assert res.failure is None and len(res.images) == 4
    assert (res.width, res.height) == plan.size


def test_sd3_blends_weighted_prompts_and_flux_refuses_them(family: str, engine: Any) -> None:
    weighted = request(family, "fox::2 snow::1", weights=[("fox", 2.0), ("snow", 1.0)])
    [res] = engine.generate([weighted])
    if family == "sd3":
        [plain] = engine.generate([request(family, "fox::2 snow::1")])
        assert res.failure is None and res.images != plain.images
    else:
        assert res.failure is Failure.BAD_INPUT and "FLUX.1" in (res.detail or "")
        [neg] = engine.generate([request(family, negative_prompt="blurry")])
        assert neg.failure is Failure.BAD_INPUT and "negative prompt" in (neg.detail or "")


def test_loras_switch_on_and_off_and_embeddings_are_skipped(
    family: str, family_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """LoRAs load through diffusers' `load_lora_weights` (peft keys on the transformer's attention); a
    batch without them is bit-identical to one before any was loaded. Embeddings: SD/SDXL only."""
    from safetensors.torch import save_file

    from gen.engine import DiffusersEngine
    from gen.loader import load_pipeline
    from imaginebot.core.domain import LoraRef

    pipe = load_pipeline(str(family_dir), device="cpu")
    gen = torch.Generator("cpu").manual_seed(0)
    tensors = {}
    for name, layer in pipe.transformer.named_modules():
        if isinstance(layer, torch.nn.Linear) and name.endswith(("attn.to_q", "attn.to_k", "attn.to_v")):
            out_f, in_f = layer.weight.shape
            tensors[f"transformer.{name}.lora_A.weight"] = torch.randn(4, in_f, generator=gen) / in_f**0.5
            tensors[f"transformer.{name}.lora_B.weight"] = torch.randn(out_f, 4, generator=gen)
    save_file(tensors, str(tmp_path / "ink.safetensors"))
    (tmp_path / "zqxstyle.safetensors").write_bytes(b"never read")
    engine = DiffusersEngine(pipe, model_id="tiny", loras_dir=tmp_path, embeddings_dir=tmp_path)
    assert engine.embeddings == [] and "SD 1.x/2.x and SDXL only" in caplog.text
    [before] = engine.generate([request(family, steps=2)])
    [inked] = engine.generate([request(family, steps=2, loras=(LoraRef("ink", 1.0),))])
    [after] = engine.generate([request(family, steps=2)])
    assert inked.failure is None and inked.images != before.images and after.images == before.images


def test_transformer_single_files_are_refused_by_name(tmp_path: Path) -> None:
    from gen.loader import ModelLoadError, detect_architecture

    for key, label in (("model.diffusion_model.joint_blocks.0.x", "SD 3"), ("double_blocks.0.x", "FLUX.1")):
        with pytest.raises(ModelLoadError, match=f"m.safetensors is a {label} single-file checkpoint"):
            detect_architecture({key: (4, 4)}, tmp_path / "m.safetensors")


@pytest.mark.parametrize("option", [["--inpainting"], ["--single-file", "x.safetensors"], ["--sdxl"]])
def test_make_tiny_model_refuses_options_of_other_families(
    option: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from imaginebot.app.cli import main

    assert main(["make-tiny-model", str(tmp_path / "m"), "--family", "sd3", *option]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("sd3" in err) and not (tmp_path / "m").exists()


def test_a_subtle_variation_stays_closer_to_its_source(family: str, engine: Any) -> None:
    """The 16-channel tiny VAE autoencodes (gen.tiny_parts), so img2img strength means what it should."""
    [src] = engine.generate([request(family, seed=8, size=(96, 64))])

    def distance(strength: float) -> float:
        var = request(family, kind="variation", size=(96, 64), source_png=src.images[0], strength=strength)
        [res] = engine.generate([var])
        return float(np.mean([np.abs(pixels(im) - pixels(src.images[0])).mean() for im in res.images]))

    assert distance(0.2) < distance(0.9)
