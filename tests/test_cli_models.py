"""Many models from the command line: a model of `gen.models_dir` chosen with `--model` (or its alias)
is loaded and served by `imagine`'s embedded worker; `<lora:…>` applies a LoRA from `gen.loras_dir`;
a prompt asking for two models is refused before anything is queued."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from test_cli_imagine import cli_env, imaginebot, job_lines  # noqa: F401  (cli_env is a fixture)


def test_a_catalogue_model_and_a_lora_from_the_command_line(
    cli_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    tiny_model_dir: Path,
    tiny_loras_dir: Path,
) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_model_dir, models / "mini")
    (tmp_path / "config.toml").write_text('[models.mini]\naliases = ["niji"]\ndescription = "the tiny one"\n')
    cli_env.update(
        IMAGINEBOT_CONFIG=str(tmp_path / "config.toml"),
        IMAGINEBOT_GEN__MODELS_DIR=str(models),
        IMAGINEBOT_GEN__LORAS_DIR=str(tiny_loras_dir),
        IMAGINEBOT_GEN__BASE_RESOLUTION="128",
    )
    [plain] = job_lines(imaginebot(cli_env, tmp_path, "imagine", "a red fox --niji --seed 3", "--out", "out"))
    assert plain["model"] == "mini" and plain["loras"] == []
    [ink] = job_lines(
        imaginebot(cli_env, tmp_path, "imagine", "a red fox <lora:ink:0.8> --niji --seed 3", "--out", "out")
    )
    assert (ink["model"], ink["prompt"]) == ("mini", "a red fox")
    assert ink["loras"] == [{"name": "ink", "weight": 0.8}]
    a = np.asarray(Image.open(tmp_path / plain["images"][0])).astype(int)
    b = np.asarray(Image.open(tmp_path / ink["images"][0])).astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() > 1  # the LoRA changed the picture

    mixed = imaginebot(cli_env, tmp_path, "imagine", f"a fox {{--niji, --model {tiny_model_dir}}}")
    assert mixed.returncode == 2 and mixed.stdout == ""
    assert f"one model per `imagine` run: this prompt asks for {tiny_model_dir}, mini" in mixed.stderr
    unknown = imaginebot(cli_env, tmp_path, "imagine", "a fox <lora:nosuch>")
    assert unknown.returncode == 2 and "nosuch" in unknown.stderr and "Traceback" not in unknown.stderr
    history = imaginebot(cli_env, tmp_path, "jobs", "--json")
    assert len(history.stdout.splitlines()) == 2
