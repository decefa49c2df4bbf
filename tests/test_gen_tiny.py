"""The tiny model: real CLIP tokenizer, SD's shape, diffusers layout, single-file export, SDXL variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fixtures_model import gen_request


def test_tokenizer_is_the_real_clip_tokenizer() -> None:
    from gen.tokenizer import VOCAB_SIZE, clip_tokenizer, clip_vocab_and_merges

    tok = clip_tokenizer()
    # Ids of openai/clip-vit-large-patch14 (the SD 1.x tokenizer) for the same text.
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    vocab, merges = clip_vocab_and_merges()
    assert len(vocab) == VOCAB_SIZE == 49408
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert len(merges) == 48894
    assert len(tok("word " * 100, truncation=True, max_length=77).input_ids) == 77


def test_tiny_model_layout_and_shape(tiny_model_dir: Path) -> None:
    index = json.loads((tiny_model_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        assert (tiny_model_dir / "tokenizer" / name).is_file()
    unet = json.loads((tiny_model_dir / "unet" / "config.json").read_text())
    vae = json.loads((tiny_model_dir / "vae" / "config.json").read_text())
    text = json.loads((tiny_model_dir / "text_encoder" / "config.json").read_text())
    assert len(vae["block_out_channels"]) == 4  # three downsamples: latents at 1/8
    assert unet["down_block_types"][0] == "DownBlock2D"  # no attention at 1/8 of the image
    assert unet["down_block_types"][1] == "CrossAttnDownBlock2D"  # attention from 1/16 down
    assert unet["block_out_channels"][:3] == [16, 32, 48] and unet["layers_per_block"] == 1
    assert text["vocab_size"] == 49408


def test_tiny_vae_round_trips_a_picture(tiny_pipe: Any) -> None:
    """The designed VAE skeleton makes decode(encode(x)) ≈ x (blurred), which img2img relies on."""
    x = torch.linspace(-1, 1, 64)
    img = torch.stack([x[None, :].expand(64, 64), x[:, None].expand(64, 64), x[None, :] * x[:, None]])[None]
    with torch.no_grad():
        z = tiny_pipe.vae.encode(img).latent_dist.sample()
        out = tiny_pipe.vae.decode(z).sample
    for c in range(3):
        assert np.corrcoef(img[0, c].flatten(), out[0, c].flatten())[0, 1] > 0.9


def test_single_file_export_loads_back_identical_weights(
    tiny_model_dir: Path, tiny_single_file: Path
) -> None:
    from diffusers import StableDiffusionPipeline
    from safetensors import safe_open

    with safe_open(str(tiny_single_file), framework="pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("model.diffusion_model.input_blocks.") for k in keys)
    assert any(k.startswith("first_stage_model.decoder.up.") for k in keys)
    assert any(k.startswith("cond_stage_model.transformer.text_model.") for k in keys)
    a = StableDiffusionPipeline.from_pretrained(str(tiny_model_dir))
    b = StableDiffusionPipeline.from_single_file(str(tiny_single_file), config=str(tiny_model_dir))
    for name in ("unet", "vae", "text_encoder"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name


def test_sdxl_tiny_model_generates_and_round_trips(
    tiny_sdxl_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gen.engine import DiffusersEngine
    from gen.loader import load_pipeline

    index = json.loads((tiny_sdxl_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline"
    pipe = load_pipeline(str(tiny_sdxl_dir), device="cpu")
    engine = DiffusersEngine(pipe, model_id="tiny-sdxl")
    req = gen_request("a lighthouse", steps=4, negative_prompt="fog")
    [res] = engine.generate([req])
    assert len(res.images) == 4 and (res.width, res.height) == (128, 128)
    weighted = gen_request("a lighthouse", steps=4, weights=[("a lighthouse", 2.0), ("fog", -0.5)])
    [res_w] = engine.generate([weighted])
    assert res_w.images[0] != res.images[0]
    # The single-file SDXL export (OpenCLIP names for the second text encoder) gives the same image.
    single = tiny_sdxl_dir.parent / "tiny-sdxl.safetensors"
    pipe_sf = load_pipeline(str(single), device="cpu", config_dir=tiny_sdxl_dir)
    [res_sf] = DiffusersEngine(pipe_sf, model_id="sf").generate([req])
    assert res_sf.images == res.images
    # A variation on SDXL goes through the SDXL img2img pipeline.
    [var] = engine.generate([gen_request(kind="variation", steps=4, source_png=res.images[0], strength=0.5)])
    assert len(var.images) == 4


def test_make_tiny_model_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gen.tiny
    from imaginebot.app.cli import main

    calls: list[tuple[Path, str, Path | None]] = []

    def fake(folder: Path, *, family: str, single_file: Path | None = None) -> list[Path]:
        calls.append((folder, family, single_file))
        return [folder] + ([single_file] if single_file else [])

    monkeypatch.setattr(gen.tiny, "make_tiny_model", fake)
    out = tmp_path / "m"
    assert (
        main(["make-tiny-model", str(out), "--sdxl", "--single-file", str(tmp_path / "m.safetensors")]) == 0
    )
    assert calls == [(out, "sdxl", tmp_path / "m.safetensors")]
    printed = capsys.readouterr().out
    assert "SDXL" in printed and str(out) in printed and "m.safetensors" in printed
    target = tmp_path / "file"
    target.write_text("not a folder")
    assert main(["make-tiny-model", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err
