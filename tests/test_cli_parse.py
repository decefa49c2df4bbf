"""`imaginebot parse` as a user runs it: a subprocess, JSON lines out, exit codes 0 and 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from interface_examples import INTERFACE_JOB

HEAVY = ("torch", "diffusers", "discord", "sqlalchemy", "transformers", "aiohttp")


def _command() -> list[str]:
    script = Path(sys.executable).with_name("imaginebot")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "imaginebot.app.cli"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[gen]\nmodel = "tiny"\n[queue]\nmax_repeat = 4\nmax_permutations = 16\n', encoding="utf-8"
    )
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run_parse(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_command(), "parse", "--config", str(config), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        cwd=config.parent,
        timeout=60,
    )


def lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_interface_example_exact(config: Path) -> None:
    result = run_parse(config, "a red fox in snow --ar 3:2 --seed 42")
    assert result.returncode == 0, result.stderr
    assert lines(result) == [{"jobs": [INTERFACE_JOB]}]
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1
    # The key order is the documented one.
    assert list(json.loads(result.stdout)["jobs"][0]) == list(INTERFACE_JOB)


def test_error_from_argument(config: Path) -> None:
    result = run_parse(config, "a fox --chaos 150")
    assert result.returncode == 2
    assert lines(result) == [{"error": "--chaos 150 is out of range: use a whole number from 0 to 100"}]


def test_stdin_one_prompt_a_line(config: Path) -> None:
    stdin = "a red fox in snow --ar 3:2 --seed 42\n\n   \n{red, blue} bird --r 2\r\nfox —seed x\n狐 in snow"
    result = run_parse(config, stdin=stdin)
    assert result.returncode == 2, result.stderr
    out = lines(result)
    assert len(out) == 4
    assert out[0] == {"jobs": [INTERFACE_JOB]}
    assert [j["prompt"] for j in out[1]["jobs"]] == ["red bird", "red bird", "blue bird", "blue bird"]
    assert out[2] == {"error": "--seed x is not valid: use a whole number from 0 to 4294967295"}
    assert out[3]["jobs"][0]["prompt"] == "狐 in snow"
    assert "狐" in result.stdout  # not escaped as \\u72d0


def test_stdin_all_valid_exits_zero(config: Path) -> None:
    result = run_parse(config, stdin="a fox\nhot dog::1.5 food::-1 --no bun\n")
    assert result.returncode == 0
    out = lines(result)
    assert out[1]["jobs"][0]["weights"] == [
        {"text": "hot dog", "weight": 1.5},
        {"text": "food", "weight": -1.0},
    ]
    assert out[1]["jobs"][0]["negative_prompt"] == "bun"


def test_empty_stdin_prints_nothing(config: Path) -> None:
    result = run_parse(config, stdin="\n\n")
    assert (result.returncode, result.stdout) == (0, "")


def test_limits_come_from_the_configuration(config: Path) -> None:
    config.write_text('[gen]\nmodel = "tiny"\nbase_resolution = 1024\nsteps = 20\n[queue]\nmax_repeat = 2\n')
    result = run_parse(config, stdin="a --q .5\na --repeat 3\n")
    first, second = lines(result)
    assert first["jobs"][0]["width"] == 1024 and first["jobs"][0]["steps"] == 10
    assert second == {"error": "--repeat 3 is out of range: use a whole number from 1 to 2"}


def test_bad_configuration_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[queue]\nmax_repeat = 0\n")
    result = run_parse(bad, "a fox")
    assert result.returncode == 2 and result.stdout == ""
    assert "max_repeat" in result.stderr and "Traceback" not in result.stderr


def test_parse_imports_nothing_heavy(config: Path) -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from imaginebot.app.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['parse', '--config', {str(config)!r}, 'a fox --ar 3:2'])\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60, check=True
    )
    assert json.loads(result.stdout) == {"rc": 0, "heavy": []}


def _header_file(path: Path, keys: list[str]) -> None:
    header = {
        k: {"dtype": "F16", "shape": [2], "data_offsets": [4 * i, 4 * i + 4]} for i, k in enumerate(keys)
    }
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)


def test_models_and_loras_from_the_folders(config: Path) -> None:
    root = config.parent
    (root / "models").mkdir()
    (root / "loras").mkdir()
    _header_file(root / "models" / "anime.safetensors", ["conditioner.embedders.1.model.x"])
    _header_file(root / "models" / "schnell.safetensors", ["double_blocks.0.img_attn.qkv.weight"])
    (root / "models" / "broken.safetensors").write_bytes(b"\xff" * 12)
    (root / "loras" / "detail.safetensors").write_bytes(b"x")
    config.write_text(
        '[gen]\nmodel = "tiny"\n[models.anime]\naliases = ["niji"]\nsteps = 20\n', encoding="utf-8"
    )
    stdin = (
        "a fox <lora:detail:0.5> --niji --ar 1:1\n"
        "{<lora:detail>, plain} fox\n"
        "a fox <lora:nope>\n"
        "a fox --model schnell --no snow\n"
        "a fox --model sdxl\n"
    )
    result = run_parse(config, stdin=stdin)
    assert result.returncode == 2
    first, second, unknown, flux, model = lines(result)
    job = first["jobs"][0]
    assert (job["prompt"], job["model"], job["loras"]) == (
        "a fox",
        "anime",
        [{"name": "detail", "weight": 0.5}],
    )
    assert (job["width"], job["steps"]) == (1024, 20)
    assert [(j["prompt"], j["model"], j["loras"]) for j in second["jobs"]] == [
        ("fox", "tiny", [{"name": "detail", "weight": 1.0}]),
        ("plain fox", "tiny", []),
    ]
    assert unknown["error"].startswith(
        "<lora:nope> is not a known lora: use <lora:NAME:W> with NAME one of detail"
    )
    assert flux == {"error": "model schnell (FLUX.1) does not support --no: leave out --no"}
    assert model["error"].startswith("--model sdxl is not a known model: use one of tiny, anime (alias niji)")
    assert "broken.safetensors" in result.stderr and "Traceback" not in result.stderr


def test_clashing_aliases_stop_parse(config: Path) -> None:
    config.write_text('[models.a]\npath = "x"\naliases = ["b"]\n[models.b]\npath = "y"\n', encoding="utf-8")
    result = run_parse(config, "a fox")
    assert result.returncode == 2 and result.stdout == ""
    assert "'b'" in result.stderr and "Traceback" not in result.stderr


def test_midjourney_parameters_are_read_with_notes(config: Path) -> None:
    stdin = (
        "https://s.mj.run/Qx1 lineart symmetry::2, 8K matte --v 7 --style raw --q 2 --no text --no frame\n"
        "a castle --w 1920 --h 1080 --uplight --hd\n"
        "a castle --wings 3\n"
    )
    result = run_parse(config, stdin=stdin)
    assert result.returncode == 2, result.stderr
    first, second, third = lines(result)
    job = first["jobs"][0]
    assert job["prompt"] == "lineart symmetry::2, 8K matte" and job["image_urls"] == ["https://s.mj.run/Qx1"]
    assert job["weights"] == [
        {"text": "lineart symmetry", "weight": 2.0},
        {"text": "8K matte", "weight": 1.0},
    ]
    assert (job["steps"], job["negative_prompt"], job["model"]) == (60, "text, frame", "tiny")
    assert job["notes"] == [
        "--v 7: no model here has the alias v7, so the usual model is used",
        "--style raw: imaginebot has no separate raw mode; a lower --stylize follows the text more "
        "literally, ignored",
    ]
    job = second["jobs"][0]
    assert job["aspect_ratio"] == "16:9" and len(job["notes"]) == 3
    assert third["error"].startswith("--wings is not a known parameter")
