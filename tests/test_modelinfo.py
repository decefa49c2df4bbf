"""Model facts read from JSON alone: resolution and architecture of folders, single files and hub ids."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from imaginebot.core import modelinfo
from imaginebot.core.modelinfo import architecture, base_resolution


def make_folder(root: Path, sample_size: int | list[int], vae_blocks: int = 4, sdxl: bool = False) -> Path:
    (root / "unet").mkdir(parents=True)
    (root / "vae").mkdir()
    unet: dict[str, object] = {"sample_size": sample_size}
    if sdxl:
        unet["addition_embed_type"] = "text_time"
    (root / "unet" / "config.json").write_text(json.dumps(unet))
    (root / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [32] * vae_blocks}))
    cls = "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline"
    (root / "model_index.json").write_text(json.dumps({"_class_name": cls}))
    return root


def make_safetensors(path: Path, keys: list[str]) -> Path:
    header = {
        k: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i, k in enumerate(keys)
    }
    header["__metadata__"] = {"format": "pt"}  # type: ignore[assignment]
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * (4 * len(keys)))
    return path


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf" / "hub"


def test_tiny() -> None:
    assert (base_resolution("tiny"), architecture("tiny")) == (512, "sd1")


@pytest.mark.parametrize(
    ("sample_size", "blocks", "expected"),
    [(64, 4, 512), (96, 4, 768), (128, 4, 1024), (32, 2, 64), ([64, 64], 4, 512), (16, 3, 64)],
)
def test_folder_resolution(tmp_path: Path, sample_size: int | list[int], blocks: int, expected: int) -> None:
    folder = make_folder(tmp_path / "model", sample_size, blocks)
    assert base_resolution(str(folder)) == expected
    assert architecture(str(folder)) == "sd1"


def test_sdxl_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "xl", 128, sdxl=True)
    assert (base_resolution(str(folder)), architecture(str(folder))) == (1024, "sdxl")
    small = make_folder(tmp_path / "tiny-xl", 16, sdxl=True)
    assert (base_resolution(str(small)), architecture(str(small))) == (128, "sdxl")


def test_folder_without_vae_config_assumes_factor_8(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m", 64)
    (folder / "vae" / "config.json").unlink()
    assert base_resolution(str(folder)) == 512


def test_single_files(tmp_path: Path) -> None:
    sd1 = make_safetensors(tmp_path / "v1.safetensors", ["model.diffusion_model.input_blocks.0.0.weight"])
    xl = make_safetensors(
        tmp_path / "xl.safetensors",
        ["conditioner.embedders.0.transformer.x", "conditioner.embedders.1.model.ln_final.weight"],
    )
    assert (base_resolution(str(sd1)), architecture(str(sd1))) == (512, "sd1")
    assert (base_resolution(str(xl)), architecture(str(xl))) == (1024, "sdxl")
    assert modelinfo.safetensors_keys(xl) == [
        "conditioner.embedders.0.transformer.x",
        "conditioner.embedders.1.model.ln_final.weight",
    ]


def test_broken_single_file_falls_back_to_the_name(tmp_path: Path) -> None:
    junk = tmp_path / "junk-xl.safetensors"
    junk.write_bytes(b"\xff" * 8 + b"nonsense")
    assert (base_resolution(str(junk)), architecture(str(junk))) == (1024, "sdxl")
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"abc")
    assert (base_resolution(str(short)), architecture(str(short))) == (512, "sd1")


@pytest.mark.parametrize(
    ("model", "resolution", "arch"),
    [
        ("stabilityai/stable-diffusion-xl-base-1.0", 1024, "sdxl"),
        ("stabilityai/sdxl-turbo", 1024, "sdxl"),
        ("someone/Juggernaut-XL", 1024, "sdxl"),
        ("runwayml/stable-diffusion-v1-5", 512, "sd1"),
        ("missing-file.safetensors", 512, "sd1"),
    ],
)
def test_uncached_hub_ids_are_guessed_by_name(model: str, resolution: int, arch: str) -> None:
    assert (base_resolution(model), architecture(model)) == (resolution, arch)


def test_cached_hub_snapshot_is_read(empty_hf_cache: Path) -> None:
    repo = empty_hf_cache / "models--someone--custom-model"
    make_folder(repo / "snapshots" / "abc123", 96)
    assert (base_resolution("someone/custom-model"), architecture("someone/custom-model")) == (768, "sd1")
    make_folder(repo / "snapshots" / "def456", 128, sdxl=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("def456")
    assert (base_resolution("someone/custom-model"), architecture("someone/custom-model")) == (1024, "sdxl")


def test_hub_cache_location(tmp_path: Path) -> None:
    assert modelinfo.hf_cache_dir({"HF_HUB_CACHE": str(tmp_path)}) == tmp_path
    assert modelinfo.hf_cache_dir({"HF_HOME": str(tmp_path)}) == tmp_path / "hub"
    assert modelinfo.hf_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "huggingface" / "hub"
    assert modelinfo.hf_cache_dir({}).parts[-3:] == (".cache", "huggingface", "hub")


def test_modelinfo_is_torch_free() -> None:
    code = (
        "import sys, imaginebot.core.modelinfo; "
        "print([m for m in ('torch', 'diffusers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
