"""`imaginebot describe FILE`: one JSON line with four prompts from `gen.captioner` (the tiny random
captioner here); without a captioner, or for a file that is no image, a one-line error and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from test_cli_imagine import imaginebot


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    env.update(
        IMAGINEBOT_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'imaginebot.db'}", HF_HUB_OFFLINE="1"
    )
    return env


def test_describe_prints_four_prompts(env: dict[str, str], tmp_path: Path) -> None:
    from gen.captioner import Captioner
    from gen.tiny_inputs import make_tiny_captioner

    folder = make_tiny_captioner(tmp_path / "captioner", seed=5)
    Image.new("RGB", (40, 30), "orange").save(tmp_path / "photo.jpg")
    proc = imaginebot({**env, "IMAGINEBOT_GEN__CAPTIONER": str(folder)}, tmp_path, "describe", "photo.jpg")
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    prompts = json.loads(line)["prompts"]
    assert len(prompts) == 4 and len(set(prompts)) == 4 and all(p.strip() for p in prompts)
    from imaginebot.core.image_inputs import load_input_image

    png = load_input_image((tmp_path / "photo.jpg").read_bytes()).png
    assert prompts == Captioner(folder).describe(png)  # the same picture, the same prompts

    (tmp_path / "notes.png").write_text("not a picture")
    bad = imaginebot({**env, "IMAGINEBOT_GEN__CAPTIONER": str(folder)}, tmp_path, "describe", "notes.png")
    assert bad.returncode == 2 and "PNG, JPEG, WebP or GIF" in bad.stderr and bad.stdout == ""


def test_describe_without_a_captioner_names_the_setting(env: dict[str, str], tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    proc = imaginebot(env, tmp_path, "describe", "x.png")
    assert proc.returncode == 2 and "gen.captioner" in proc.stderr and proc.stdout == ""
