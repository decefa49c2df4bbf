"""`imaginebot imagine`: the real queue and engine from the command line, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

JOB_FIELDS = [
    "job_id", "prompt", "negative_prompt", "seed", "width", "height", "steps", "guidance_scale", "scheduler",
    "model", "loras", "images", "grid",
]  # fmt: skip


@pytest.fixture
def cli_env(tmp_path: Path, tiny_model_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    env.update(
        IMAGINEBOT_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'imaginebot.db'}",
        IMAGINEBOT_GEN__MODEL=str(tiny_model_dir),
        IMAGINEBOT_GEN__STEPS="4",
        IMAGINEBOT_GEN__BASE_RESOLUTION="256",
        IMAGINEBOT_APP__DATA_DIR=str(tmp_path / "data"),
        HF_HUB_OFFLINE="1",
    )
    return env


def imaginebot(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imaginebot.app.cli", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )  # fmt: skip


def job_lines(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def pixels(path: str | Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_imagine_writes_four_images_and_a_grid_matching_raw_diffusers(
    cli_env: dict[str, str], tmp_path: Path, tiny_model_dir: Path
) -> None:
    proc = imaginebot(cli_env, tmp_path, "imagine", "a red fox in snow --ar 3:2 --seed 42 --no blur",
                      "--out", "out", "--user", "77")  # fmt: skip
    [job] = job_lines(proc)
    assert list(job) == JOB_FIELDS
    assert "warn" not in proc.stderr.lower() and "torchvision" not in proc.stderr, proc.stderr
    assert (job["prompt"], job["negative_prompt"], job["seed"]) == ("a red fox in snow", "blur", 42)
    assert (job["width"], job["height"], job["steps"], job["guidance_scale"]) == (312, 208, 4, 7.0)
    assert job["scheduler"] == "PNDMScheduler"
    assert job["images"] == [f"out/{job['job_id']}/{k}.png" for k in range(1, 5)]
    assert job["grid"] == f"out/{job['job_id']}/grid.png"
    images = [pixels(tmp_path / p) for p in job["images"]]
    assert all(img.shape == (208, 312, 3) for img in images)
    grid = pixels(tmp_path / job["grid"])
    assert grid.shape == (416, 624, 3)
    assert np.array_equal(grid[208:, 312:], images[3])

    # The same call on plain diffusers gives the same pixels: seeds are per image, on CPU generators.
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir)
    pipe.set_progress_bar_config(disable=True)
    raw = pipe(
        "a red fox in snow", negative_prompt="blur", width=312, height=208, num_inference_steps=4,
        guidance_scale=7.0, num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(42 + k) for k in range(4)],
    ).images  # fmt: skip
    for ours, theirs in zip(images, raw, strict=True):
        assert np.array_equal(ours, np.asarray(theirs.convert("RGB")))

    quota = imaginebot(cli_env, tmp_path, "admin", "quota", "show", "77", "--json")
    assert json.loads(quota.stdout)["used_today"] == 1


def test_same_seed_same_bytes_and_repeat_makes_several_jobs(cli_env: dict[str, str], tmp_path: Path) -> None:
    first = job_lines(imaginebot(cli_env, tmp_path, "imagine", "a cat --seed 7", "--out", "a"))
    jobs = job_lines(imaginebot(cli_env, tmp_path, "imagine", "a cat --seed 7 --repeat 2", "--out", "b"))
    assert len(jobs) == 2 and len({j["job_id"] for j in jobs}) == 2
    for job in jobs:
        for mine, again in zip(first[0]["images"], job["images"], strict=True):
            assert (tmp_path / mine).read_bytes() == (tmp_path / again).read_bytes()
    history = imaginebot(cli_env, tmp_path, "jobs", "--json")
    assert [json.loads(line)["status"] for line in history.stdout.splitlines()] == ["succeeded"] * 3


def test_bad_prompt_and_used_up_quota_queue_nothing(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = imaginebot(cli_env, tmp_path, "imagine", "a fox --ar 0:1")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "--ar 0:1 is not a valid aspect ratio" in bad.stderr
    assert "Traceback" not in bad.stderr

    cli_env["IMAGINEBOT_QUOTA__DAILY_JOBS"] = "1"
    job_lines(imaginebot(cli_env, tmp_path, "imagine", "a fox --seed 1"))
    refused = imaginebot(cli_env, tmp_path, "imagine", "a fox --seed 2")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "quota" in refused.stderr.lower() and "Traceback" not in refused.stderr
    history = imaginebot(cli_env, tmp_path, "jobs", "--json")
    assert len(history.stdout.splitlines()) == 1


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_imagine_migrates_only_the_embedded_sqlite_database(
    cli_env: dict[str, str], tmp_path: Path, empty_db_url: str
) -> None:
    """A shared PostgreSQL database is upgraded by its operator (`imaginebot db upgrade`), never as a side
    effect of a local `imagine`; the embedded SQLite default is (the tests above start from no file)."""
    cli_env["IMAGINEBOT_DATABASE__URL"] = empty_db_url
    proc = imaginebot(cli_env, tmp_path, "imagine", "a fox --seed 1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "run `imaginebot db upgrade`" in proc.stderr and "Traceback" not in proc.stderr
    current = imaginebot(cli_env, tmp_path, "db", "current")
    assert "no schema" in current.stdout, current.stdout + current.stderr
