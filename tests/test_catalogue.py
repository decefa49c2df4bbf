"""The model catalogue: folders, single files, [models.NAME] tables, aliases, families, LoRAs, embeddings."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imaginebot.core.catalogue import FAMILY_PROFILES, Catalogue, UnknownModelError
from imaginebot.core.config import ConfigError, Settings


def settings(**sections: Any) -> Settings:
    return Settings(**sections)


def write_safetensors(path: Path, tensors: dict[str, list[int]]) -> Path:
    """A safetensors file with these tensor names and shapes: 8-byte little-endian length + JSON header."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        size = 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)  # the data itself is never read
    return path


def write_folder(root: Path, pipeline: str, unet: dict[str, Any] | None = None, **extra: Any) -> Path:
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": pipeline, **extra}))
    if unet is not None:
        (root / "unet").mkdir()
        (root / "unet" / "config.json").write_text(json.dumps(unet))
        (root / "vae").mkdir()
        (root / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [1, 2, 3, 4]}))
    return root


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def zoo(cwd: Path) -> Path:
    """A models folder with one model of each family, plus a broken file and a stray folder."""
    models = cwd / "models"
    write_folder(models / "dream", "StableDiffusionPipeline", {"sample_size": 64, "cross_attention_dim": 768})
    write_folder(models / "sd21", "StableDiffusionPipeline", {"sample_size": 96, "cross_attention_dim": 1024})
    write_folder(
        models / "xlfolder",
        "StableDiffusionXLPipeline",
        {"sample_size": 128, "addition_embed_type": "text_time"},
        text_encoder_2=["transformers", "CLIPTextModelWithProjection"],
    )
    write_folder(models / "fluxfolder", "FluxPipeline")
    write_safetensors(models / "anime.safetensors", {"conditioner.embedders.1.model.ln_final.weight": [4]})
    write_safetensors(models / "sd3file.safetensors", {"model.diffusion_model.joint_blocks.0.x.weight": [4]})
    write_safetensors(models / "fluxfile.safetensors", {"double_blocks.0.img_attn.qkv.weight": [4]})
    write_safetensors(
        models / "v15.safetensors",
        {
            "cond_stage_model.transformer.text_model.x": [4],
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
        },
    )
    write_safetensors(
        models / "v2.safetensors",
        {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024]},
    )
    write_safetensors(models / "openclip.safetensors", {"cond_stage_model.model.ln_final.weight": [4]})
    write_safetensors(models / "mystery.safetensors", {"something.else": [4]})
    (models / "old.ckpt").write_bytes(b"PK\x03\x04 not read")
    (models / "broken.safetensors").write_bytes(b"\xff" * 8 + b"junk")
    (models / "short.safetensors").write_bytes(b"abc")
    (models / "notes").mkdir()
    (models / "README.txt").write_text("ignored")
    (models / ".hidden.safetensors").write_bytes(b"x")
    return models


def test_missing_folders_give_the_default_model_alone(cwd: Path) -> None:
    cat = Catalogue.from_settings(settings())
    assert cat.names() == ["tiny"]
    assert cat.default.name == "tiny" and cat.default.path == "tiny"
    assert (cat.default.family, cat.default.base_resolution, cat.default.source) == ("sd15", 512, "default")
    assert cat.problems == [] and cat.loras() == {} and cat.embeddings() == {}


def test_families_from_folders_and_headers(zoo: Path) -> None:
    cat = Catalogue.from_settings(settings())
    families = {m.name: (m.family, m.base_resolution) for m in cat.models.values()}
    assert families == {
        "tiny": ("sd15", 512),
        "anime": ("sdxl", 1024),
        "dream": ("sd15", 512),
        "fluxfile": ("flux", 1024),
        "fluxfolder": ("flux", 1024),
        "mystery": ("unknown", 512),
        "old": ("sd15", 512),
        "openclip": ("sd2", 768),
        "sd21": ("sd2", 768),
        "sd3file": ("sd3", 1024),
        "v15": ("sd15", 512),
        "v2": ("sd2", 768),
        "xlfolder": ("sdxl", 1024),
    }
    assert cat.names()[0] == "tiny"  # the default first
    assert cat.models["anime"].path == str(zoo / "anime.safetensors")
    assert cat.models["dream"].path == str(zoo / "dream")
    assert all(m.source == "models_dir" for n, m in cat.models.items() if n != "tiny")


def test_broken_files_are_problems_not_failures(zoo: Path) -> None:
    cat = Catalogue.from_settings(settings())
    assert "broken" not in cat.models and "short" not in cat.models and "notes" not in cat.models
    assert len(cat.problems) == 3
    assert any("broken.safetensors" in p and "unreadable" in p for p in cat.problems)
    assert any("short.safetensors" in p for p in cat.problems)
    assert any("notes" in p and "model_index.json" in p for p in cat.problems)
    assert all("\n" not in p for p in cat.problems)


def test_tables_describe_found_models_and_add_new_ones(zoo: Path, cwd: Path) -> None:
    extra = write_folder(cwd / "elsewhere" / "real", "StableDiffusion3Pipeline")
    cat = Catalogue.from_settings(
        settings(
            models={
                "anime": {
                    "aliases": ["niji", "ani"],
                    "description": "anime style",
                    "steps": 20,
                    "guidance_scale": 5.5,
                    "scheduler": "EulerAncestralDiscreteScheduler",
                    "draft_lora": "lcm",
                    "draft_steps": 6,
                },
                "three": {
                    "path": str(extra),
                    "base_resolution": 768,
                    "draft_steps": 4,
                    "draft_guidance": 1.0,
                },
                "hub": {"path": "black-forest-labs/FLUX.1-schnell"},
                "ghost": {"description": "describes nothing"},
            }
        )
    )
    anime = cat.models["anime"]
    assert (anime.aliases, anime.description, anime.steps, anime.guidance_scale) == (
        ("niji", "ani"),
        "anime style",
        20,
        5.5,
    )
    assert anime.scheduler == "EulerAncestralDiscreteScheduler" and anime.family == "sdxl"
    assert anime.draft is not None and (anime.draft.lora, anime.draft.steps, anime.draft.guidance_scale) == (
        "lcm",
        6,
        1.5,
    )
    three = cat.models["three"]
    assert (three.family, three.base_resolution, three.path, three.source) == (
        "sd3",
        768,
        str(extra),
        "config",
    )
    assert three.draft is not None and (three.draft.lora, three.draft.steps, three.draft.guidance_scale) == (
        "",
        4,
        1.0,
    )
    assert cat.models["hub"].family == "flux" and cat.models["hub"].path == "black-forest-labs/FLUX.1-schnell"
    assert cat.models["dream"].draft is None
    assert "ghost" not in cat.models
    assert any("[models.ghost]" in p for p in cat.problems)
    assert any("draft_lora 'lcm'" in p for p in cat.problems)  # no loras folder


def test_a_table_with_a_path_repoints_a_found_model(zoo: Path) -> None:
    cat = Catalogue.from_settings(settings(models={"dream": {"path": str(zoo / "anime.safetensors")}}))
    assert (cat.models["dream"].family, cat.models["dream"].source) == ("sdxl", "config")


def test_default_model_by_name_alias_or_path(zoo: Path) -> None:
    by_name = Catalogue.from_settings(settings(gen={"model": "anime"}))
    assert by_name.default_name == "anime" and by_name.names()[0] == "anime" and "tiny" not in by_name.models
    by_alias = Catalogue.from_settings(
        settings(gen={"model": "pretty"}, models={"dream": {"aliases": ["pretty"]}})
    )
    assert by_alias.default_name == "dream"
    by_path = Catalogue.from_settings(settings(gen={"model": str(zoo / "xlfolder"), "base_resolution": 640}))
    assert by_path.default_name == str(zoo / "xlfolder")
    assert (by_path.default.family, by_path.default.base_resolution) == ("sdxl", 640)
    described = Catalogue.from_settings(settings(models={"tiny": {"aliases": ["small"], "steps": 12}}))
    assert described.default.aliases == ("small",) and described.default.steps == 12
    assert not any("[models.tiny]" in p for p in described.problems)


def test_resolve_by_name_alias_and_case(zoo: Path) -> None:
    cat = Catalogue.from_settings(settings(models={"anime": {"aliases": ["niji"]}}))
    assert cat.resolve("anime").name == "anime"
    assert cat.resolve("niji").name == "anime"
    assert cat.resolve("NIJI").name == "anime"
    assert cat.resolve("Dream").name == "dream"
    assert cat.with_alias("niji") is cat.models["anime"]
    assert cat.aliases() == {"niji": "anime"}
    with pytest.raises(UnknownModelError) as err:
        cat.resolve("nothing")
    message = str(err.value)
    assert message.startswith("'nothing' is not a known model: use ")
    assert "anime (alias niji)" in message and "dream" in message


@pytest.mark.parametrize(
    ("tables", "words"),
    [
        ({"anime": {"aliases": ["x"]}, "dream": {"aliases": ["x"]}}, ["'x'", "anime", "dream"]),
        ({"anime": {"aliases": ["dream"]}}, ["'dream'", "anime", "another model"]),
    ],
)
def test_clashing_aliases_are_config_errors(zoo: Path, tables: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        Catalogue.from_settings(settings(models=tables))
    assert all(w in str(err.value) for w in words)


def test_loras_and_embeddings(cwd: Path) -> None:
    loras = cwd / "my-loras"
    loras.mkdir()
    for name in ("detail.safetensors", "detail.pt", "style.pt", "old.bin", "notes.txt"):
        (loras / name).write_bytes(b"x")
    (loras / "folder.safetensors").mkdir()
    emb = cwd / "emb"
    emb.mkdir()
    for name in ("bad-hands.pt", "easyneg.safetensors", "legacy.bin", "x.json"):
        (emb / name).write_bytes(b"x")
    cat = Catalogue.from_settings(settings(gen={"loras_dir": "my-loras", "embeddings_dir": str(emb)}))
    assert cat.loras() == {
        "detail": loras / "detail.safetensors",
        "old": loras / "old.bin",
        "style": loras / "style.pt",
    }
    assert cat.embeddings() == {
        "bad-hands": emb / "bad-hands.pt",
        "easyneg": emb / "easyneg.safetensors",
        "legacy": emb / "legacy.bin",
    }
    assert cat.describe_loras() == "detail, old, style"


def test_family_profiles_are_data() -> None:
    assert set(FAMILY_PROFILES) == {"sd15", "sd2", "sdxl", "sd3", "flux", "unknown"}
    flux = FAMILY_PROFILES["flux"]
    assert (flux.negative_prompt, flux.prompt_weights, flux.label) == (False, False, "FLUX.1")
    assert all(p.negative_prompt and p.prompt_weights for f, p in FAMILY_PROFILES.items() if f != "flux")


def test_single_is_the_parser_default() -> None:
    cat = Catalogue.single()
    assert (cat.names(), cat.default.family, cat.loras()) == (["tiny"], "sd15", {})


def test_catalogue_is_torch_free() -> None:
    code = (
        "import sys, imaginebot.core.catalogue, imaginebot.core.prompt\n"
        "bad = [m for m in ('torch', 'diffusers', 'safetensors', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
