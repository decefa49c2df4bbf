"""`imaginebot imagine PROMPT --image FILE`: image prompts on the command line, through the real queue and
the tiny model (img2img from the image without an IP-Adapter); a file that is no image queues nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from test_cli_imagine import imaginebot, job_lines, pixels


@pytest.fixture
def env(tmp_path: Path, tiny_model_dir: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    env.update(
        IMAGINEBOT_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'imaginebot.db'}",
        IMAGINEBOT_GEN__MODEL=str(tiny_model_dir),
        IMAGINEBOT_GEN__STEPS="4",
        IMAGINEBOT_GEN__BASE_RESOLUTION="64",
        IMAGINEBOT_APP__DATA_DIR=str(tmp_path / "data"),
        HF_HUB_OFFLINE="1",
    )
    return env


def test_an_image_file_prompts_the_images(env: dict[str, str], tmp_path: Path) -> None:
    Image.new("RGB", (80, 80), (20, 40, 230)).save(tmp_path / "blue.png")
    proc = imaginebot(env, tmp_path, "imagine", "a lighthouse --iw 3 --seed 5", "--image", "blue.png",
                      "--out", "out")  # fmt: skip
    [job] = job_lines(proc)
    grid = pixels(tmp_path / job["grid"]).astype(float)
    r, g, b = (grid[..., k].mean() for k in range(3))
    assert b > r + 30 and b > g + 30  # the blue image shows through at --iw 3


def test_a_file_that_is_no_image_queues_nothing(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not a picture")
    proc = imaginebot(env, tmp_path, "imagine", "a lighthouse", "--image", "notes.png")
    assert proc.returncode == 2 and "notes.png" in proc.stderr and "PNG, JPEG, WebP or GIF" in proc.stderr
    proc = imaginebot(env, tmp_path, "imagine", "a lighthouse", "--image", "missing.png")
    assert proc.returncode == 2 and "missing.png" in proc.stderr
    history = imaginebot(env, tmp_path, "jobs", "--json")
    assert [json.loads(line) for line in history.stdout.splitlines()] == []


def test_blend_mixes_the_files(env: dict[str, str], tmp_path: Path) -> None:
    Image.new("RGB", (40, 40), (230, 10, 10)).save(tmp_path / "red.png")
    Image.new("RGB", (50, 30), (10, 10, 230)).save(tmp_path / "blue.jpg")
    proc = imaginebot(env, tmp_path, "blend", "red.png", "blue.jpg", "--dimensions", "landscape",
                      "--out", "out")  # fmt: skip
    [job] = job_lines(proc)
    assert job["prompt"] == "a blend of 2 images" and job["width"] > job["height"]  # landscape, 3:2
    grid = pixels(tmp_path / job["grid"]).astype(float)
    r, g, b = (grid[..., k].mean() for k in range(3))
    assert r > g + 15 and b > g + 15  # both images show in the mix
    one = imaginebot(env, tmp_path, "blend", "red.png")
    assert one.returncode == 2 and "a blend needs 2 to 5 images, not 1" in one.stderr


def test_cn_image_controls_the_images(env: dict[str, str], tmp_path: Path, tiny_model_dir: Path) -> None:
    from gen.tiny_inputs import make_tiny_controlnet

    folder = make_tiny_controlnet(tiny_model_dir, tmp_path / "canny", seed=1)
    env = {**env, "IMAGINEBOT_GEN__CONTROLNETS": f'{{ canny = "{folder}" }}'}
    square = Image.new("RGB", (64, 64))
    square.paste((255, 255, 255), (16, 16, 48, 48))
    square.save(tmp_path / "square.png")
    [controlled] = job_lines(imaginebot(env, tmp_path, "imagine", "a castle --cn canny --cw 1.5 --seed 9",
                                        "--cn-image", "square.png", "--out", "out"))  # fmt: skip
    [free] = job_lines(imaginebot(env, tmp_path, "imagine", "a castle --seed 9", "--out", "out"))
    assert pixels(tmp_path / controlled["grid"]).shape == pixels(tmp_path / free["grid"]).shape
    assert (tmp_path / controlled["images"][0]).read_bytes() != (tmp_path / free["images"][0]).read_bytes()

    no_cn = imaginebot(env, tmp_path, "imagine", "a castle", "--cn-image", "square.png")
    assert no_cn.returncode == 2 and "--cn-image needs --cn KIND" in no_cn.stderr
    depth = imaginebot(env, tmp_path, "imagine", "a castle --cn depth", "--cn-image", "square.png")
    assert depth.returncode == 2 and "gen.controlnets.depth" in depth.stderr


def test_through_an_ip_adapter_the_embeddings_are_kept_with_the_job(
    env: dict[str, str], tmp_path: Path, tiny_model_dir: Path
) -> None:
    import sqlite3

    from gen.tiny_inputs import IP_ADAPTER_WEIGHT, make_tiny_ip_adapter

    folder = make_tiny_ip_adapter(tiny_model_dir, tmp_path / "ipa", seed=2)
    env = {**env, "IMAGINEBOT_GEN__IP_ADAPTER": str(folder / IP_ADAPTER_WEIGHT)}
    Image.new("RGB", (80, 80), (20, 40, 230)).save(tmp_path / "blue.png")
    proc = imaginebot(env, tmp_path, "imagine", "a lighthouse --iw 2 --seed 5", "--image", "blue.png")
    [job] = job_lines(proc)
    assert len(job["images"]) == 4
    with sqlite3.connect(tmp_path / "imaginebot.db") as db:
        roles = db.execute("SELECT role FROM job_inputs WHERE job_id = ? ORDER BY position", (job["job_id"],))
        assert [r for (r,) in roles] == ["prompt", "ip_embeds"]  # the image, then its embeddings, once


def test_cli_variations_keep_the_image_prompt(env: dict[str, str], tmp_path: Path) -> None:
    import sqlite3

    Image.new("RGB", (40, 40), (20, 40, 230)).save(tmp_path / "blue.png")
    [grid] = job_lines(imaginebot(env, tmp_path, "imagine", "a lighthouse --seed 3", "--image", "blue.png"))
    proc = imaginebot(env, tmp_path, "edit", grid["job_id"], "variations", "--image", "2")
    assert proc.returncode == 0, proc.stderr
    [variation] = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    with sqlite3.connect(tmp_path / "imaginebot.db") as db:
        def stored(job_id: str) -> list[bytes]:
            query = "SELECT png FROM job_inputs WHERE job_id = ? AND role = 'prompt' ORDER BY position"
            return [png for (png,) in db.execute(query, (job_id,))]

        assert stored(variation["job_id"]) == stored(grid["job_id"]) != []
