"""gen.loader: every kind of model reference, shared img2img modules, and one-line load errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures_model import gen_request

from gen.loader import ModelLoadError, img2img_pipeline, load_pipeline, resolve_device, resolve_dtype


def _one_line_error(ref: str, **kwargs: Any) -> str:
    with pytest.raises(ModelLoadError) as err:
        load_pipeline(ref, device="cpu", **kwargs)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400
    assert isinstance(err.value, ValueError)
    return message


def test_tiny_is_built_once_into_the_data_dir(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gen.tiny

    builds: list[Path] = []

    def fake_build(folder: Path, **kwargs: Any) -> list[Path]:
        builds.append(Path(folder))
        shutil.copytree(tiny_model_dir, folder)
        return [Path(folder)]

    monkeypatch.setattr(gen.tiny, "make_tiny_model", fake_build)
    pipe = load_pipeline("tiny", device="cpu", data_dir=tmp_path)
    assert (tmp_path / "models" / "tiny-sd" / "model_index.json").is_file()
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    load_pipeline("tiny", device="cpu", data_dir=tmp_path)
    assert len(builds) == 1  # reused, not rebuilt
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["tiny-sd"]  # no temporary leftovers


def test_single_file_gives_the_same_image_as_the_folder(tiny_engine: Any, tiny_single_file: Path) -> None:
    from gen.engine import DiffusersEngine

    pipe = load_pipeline(str(tiny_single_file), device="cpu", config_dir=tiny_single_file.parent / "tiny-sd")
    req = gen_request(seed=21, steps=4)
    [from_file] = DiffusersEngine(pipe, model_id="single").generate([req])
    [from_folder] = tiny_engine.generate([req])
    assert from_file.images == from_folder.images


def test_scheduler_override_keeps_the_schedule(tiny_model_dir: Path) -> None:
    pipe = load_pipeline(str(tiny_model_dir), device="cpu", scheduler="EulerDiscreteScheduler")
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert pipe.scheduler.config.beta_schedule == "scaled_linear"
    assert "unknown scheduler 'Nope'" in _one_line_error(str(tiny_model_dir), scheduler="Nope")


def test_img2img_shares_every_module(tiny_pipe: Any) -> None:
    psutil = pytest.importorskip("psutil")
    before = psutil.Process().memory_info().rss
    i2i = img2img_pipeline(tiny_pipe)
    after = psutil.Process().memory_info().rss
    assert type(i2i).__name__ == "StableDiffusionImg2ImgPipeline"
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert id(getattr(i2i, name)) == id(getattr(tiny_pipe, name)), name
    assert after <= before * 1.10


def test_missing_paths_are_clear(tmp_path: Path) -> None:
    assert _one_line_error(str(tmp_path / "nope.safetensors")).startswith("model path ")
    assert "does not exist" in _one_line_error("./no/such/folder")
    assert "no model_index.json" in _one_line_error(str(tmp_path))


def test_corrupt_files_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00garbage" * 20)
    assert "cannot read checkpoint" in _one_line_error(str(bad))
    ckpt = tmp_path / "broken.ckpt"
    ckpt.write_bytes(b"not a pickle at all")
    assert "cannot read checkpoint" in _one_line_error(str(ckpt))
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert "neither a diffusers folder" in _one_line_error(str(other))


def test_unknown_architectures_are_clear(
    tmp_path: Path, tiny_single_file: Path, tiny_model_dir: Path
) -> None:
    from safetensors.torch import save_file

    weird = tmp_path / "weird.safetensors"
    save_file({"double_blocks.0.img_attn.norm.key_norm.scale": torch.zeros(2)}, str(weird))
    assert "FLUX.1 single-file checkpoint" in _one_line_error(str(weird))  # FLUX loads from folders
    folder = tmp_path / "kandinsky"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "KandinskyV22Pipeline"}))
    assert "unknown architecture" in _one_line_error(str(folder))
    sdxl_configs = tmp_path / "xl"
    sdxl_configs.mkdir()
    (sdxl_configs / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert "same architecture" in _one_line_error(str(tiny_single_file), config_dir=sdxl_configs)


def test_offline_hub_id_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    message = _one_line_error("someone/some-model")
    assert "not in the local Hugging Face cache" in message


def test_single_file_without_configs_offline_is_clear(
    tiny_single_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_single_file.parent / "empty-cache"))
    assert "config_dir" in _one_line_error(str(tiny_single_file))


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ModelLoadError):
        resolve_dtype("float8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            resolve_device("cuda:0")
