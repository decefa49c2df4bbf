"""`imaginebot edit SOURCE ACTION …`: edits of a job's image or of a file, through the real queue and
engine on the tiny model, as an operator runs them; and every kind of bad input refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from test_cli_imagine import cli_env, imaginebot, job_lines  # noqa: F401  (cli_env is a fixture)

from imaginebot.core.edit_images import canvas
from imaginebot.core.edits import EditAction, EditPlan, make_square, pan, vary_region, zoom_out

EDIT_FIELDS = [
    "job_id", "prompt", "negative_prompt", "seed", "width", "height", "steps", "guidance_scale", "scheduler",
    "model", "loras", "images", "grid", "kind", "parent",
]  # fmt: skip
BASE = 128


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    cli_env["IMAGINEBOT_GEN__BASE_RESOLUTION"] = str(BASE)
    return cli_env


def kept_equal(result: str, source: Image.Image, plan: EditPlan) -> None:
    """Outside the regenerated boxes and their seam, the result holds the source's own pixels, resized
    into place; inside the boxes it holds new ones."""
    got = np.asarray(Image.open(result).convert("RGB")).astype(int)
    want = np.asarray(canvas(source, plan)).astype(int)
    assert got.shape == want.shape == (plan.height, plan.width, 3)
    kept = np.array([[plan.is_kept(x, y) for x in range(plan.width)] for y in range(plan.height)])
    assert kept.any() and (~kept).any()
    assert np.array_equal(got[kept], want[kept])
    box = plan.regenerate[0]
    assert (
        np.abs(
            got[box.top : box.bottom, box.left : box.right] - want[box.top : box.bottom, box.left : box.right]
        ).mean()
        > 1
    )


def jobs_count(env: dict[str, str], cwd: Path) -> int:
    return len(imaginebot(env, cwd, "jobs", "--json").stdout.splitlines())


def edit(env: dict[str, str], cwd: Path, *args: str) -> dict[str, Any]:
    [line] = job_lines(imaginebot(env, cwd, "edit", *args, "--out", "out"))
    assert list(line) == EDIT_FIELDS
    line["images"] = [str(cwd / p) for p in line["images"]]  # written relative to the command's folder
    return line


def test_upscale_then_zoom_out_then_pan_from_job_ids(env: dict[str, str], tmp_path: Path) -> None:
    [grid] = job_lines(imaginebot(env, tmp_path, "imagine", "a red fox in snow --seed 42", "--out", "out"))
    assert Path(tmp_path / grid["grid"]).is_file()
    assert (grid["width"], grid["height"]) == (BASE, BASE)

    up = edit(env, tmp_path, grid["job_id"], "upscale", "--image", "2")
    assert up["kind"] == "upscale" and up["parent"] == {"job_id": grid["job_id"], "image": 2}
    assert (
        (up["width"], up["height"]) == (2 * BASE, 2 * BASE) and up["grid"] is None and len(up["images"]) == 1
    )
    upscaled = Image.open(up["images"][0]).convert("RGB")

    zoom = edit(env, tmp_path, up["job_id"], "zoom-out", "--zoom", "1.5", "--seed", "7")
    assert zoom["kind"] == "zoom-out" and zoom["parent"] == {"job_id": up["job_id"], "image": 1}
    assert (zoom["width"], zoom["height"], zoom["seed"]) == (BASE, BASE, 7)
    assert (
        zoom["prompt"] == "a red fox in snow"
        and (tmp_path / zoom["grid"]).is_file()
        and len(zoom["images"]) == 4
    )
    for path in zoom["images"]:
        kept_equal(path, upscaled, zoom_out((BASE, BASE), 1.5))
    assert len({Image.open(p).tobytes() for p in zoom["images"]}) == 4

    left = edit(
        env, tmp_path, zoom["job_id"], "pan-left", "--image", "3", "--prompt", "a fox on a frozen lake"
    )
    plan = pan((BASE, BASE), EditAction.PAN_LEFT, BASE)
    assert (left["width"], left["height"]) == plan.size and left["width"] > left["height"]
    assert left["prompt"] == "a fox on a frozen lake"
    kept_equal(left["images"][0], Image.open(zoom["images"][2]).convert("RGB"), plan)


def test_make_square_and_vary_region_of_a_file(env: dict[str, str], tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    photo.save(tmp_path / "photo.jpg", quality=95)
    source = Image.open(tmp_path / "photo.jpg").convert("RGB")

    square = edit(env, tmp_path, "photo.jpg", "make-square", "--prompt", "a meadow --no people")
    assert square["kind"] == "make-square" and square["parent"] == {"file": "photo.jpg"}
    assert (square["width"], square["height"]) == (BASE, BASE) and square["negative_prompt"] == "people"
    kept_equal(square["images"][1], source, make_square((96, 64), BASE))

    region = edit(env, tmp_path, "photo.jpg", "vary-region", "--region", "0.5,0,1,0.5", "--prompt", "a bird")
    plan = vary_region((96, 64), [(0.5, 0, 1, 0.5)])
    assert (region["width"], region["height"]) == (96, 64) and plan.regenerate == ((48, 0, 96, 32),)
    kept_equal(region["images"][0], source, plan)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["JOB", "sharpen"], "ACTION: 'sharpen' is not an edit"),
        (["JOB", "zoom-out", "--zoom", "2.5"], "--zoom: 2.5 is out of range: use a number from 1.0 to 2.0"),
        (["JOB", "zoom-out", "--zoom", "wide"], "--zoom: 'wide' is not a number"),
        (["JOB", "pan-left", "--zoom", "2"], "--zoom: only zoom-out takes a zoom"),
        (["JOB", "vary-region"], "--region: vary-region needs the part to repaint"),
        (["JOB", "vary-region", "--region", "0.6,0,0.2,1"], "--region: the region is empty or inverted"),
        (["JOB", "vary-region", "--region", "0,0,1"], "--region: '0,0,1' is not LEFT,TOP,RIGHT,BOTTOM"),
        (["JOB", "upscale", "--image", "5"], "--image: job JOB has 4 image(s); 5 is not one of them"),
        (
            ["JOB", "pan-up", "--prompt", "a fox --ar 3:2"],
            "--ar: only Custom Zoom (zoom-out) takes an aspect",
        ),
        (["JOB", "upscale", "--seed", "-1"], "--seed: -1 is out of range"),
        (
            ["nosuchjob123", "upscale"],
            "SOURCE: 'nosuchjob123' is neither a job id in the database nor an image",
        ),
        (["photo.png", "make-square"], "--prompt: the image file photo.png has no prompt of its own"),
        (["photo.png", "make-square", "--prompt", "x"], "make-square: the image is already square"),
        (
            ["photo.png", "upscale-subtle", "--prompt", "x"],
            "upscale-subtle: the result would be 4112×4112 px",
        ),
        (["notes.txt", "upscale", "--prompt", "x"], "SOURCE: notes.txt is not a PNG, JPEG or WebP image"),
        (["JOB", "make-square", "--prompt", "{a, b} fox"], "the new prompt must be one prompt"),
    ],
)
def test_bad_input_is_one_line_naming_the_argument_and_queues_nothing(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    env["IMAGINEBOT_QUEUE__EMBEDDED_WORKER"] = "false"  # nothing may reach the engine anyway
    Image.new("RGB", (2056, 2056), (10, 20, 30)).save(tmp_path / "photo.png")
    (tmp_path / "notes.txt").write_text("not an image")
    job = _job(env, tmp_path, finished=True)
    before = jobs_count(env, tmp_path)
    argv = [a.replace("JOB", job) for a in args]
    proc = imaginebot(env, tmp_path, "edit", *argv)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("imaginebot: ") and message.replace("JOB", job) in proc.stderr, proc.stderr
    assert jobs_count(env, tmp_path) == before


def _job(env: dict[str, str], cwd: Path, *, finished: bool) -> str:
    """A 2×2 job in the CLI's database, made through the queue API (no engine): queued, or succeeded."""
    script = (
        (
            "import asyncio, sys\n"
            "sys.path.insert(0, TESTS)\n"
            "from fake_engine import solid_png\n"
            "from imaginebot.app.common import open_queue\n"
            "from imaginebot.app.imagine import ready\n"
            "from imaginebot.core.config import load_settings\n"
            "from imaginebot.core.domain import GenResult, JobSpec\n"
            "async def main():\n"
            "    s = load_settings(None)\n"
            "    q = open_queue(s)\n"
            "    await ready(q)\n"
            "    spec = JobSpec('a red fox', width=128, height=128)\n"
            "    [job] = await q.admission.enqueue(0, [spec], model=s.gen.model)\n"
            "    if FINISHED:\n"
            "        [c] = await q.lifecycle.claim('w', model=s.gen.model, max_images=4)\n"
            "        pngs = [solid_png(128, 128, (k, 0, 0)) for k in range(4)]\n"
            "        await q.lifecycle.complete(c.id, 'w', GenResult(c.id, pngs, 128, 128))\n"
            "    print(job.id)\n"
            "    await q.close()\n"
            "asyncio.run(main())\n"
        )
        .replace("TESTS", repr(str(Path(__file__).parent)))
        .replace("FINISHED", str(finished))
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_an_unfinished_source_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    env["IMAGINEBOT_QUEUE__EMBEDDED_WORKER"] = "false"
    job = _job(env, tmp_path, finished=False)
    proc = imaginebot(env, tmp_path, "edit", job, "upscale")
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"SOURCE: job {job} is queued; only a finished job's images can be edited" in proc.stderr
    assert jobs_count(env, tmp_path) == 1
