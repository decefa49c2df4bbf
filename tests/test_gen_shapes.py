"""`make-tiny-model --shape`: random weights with the real architectures' sizes (gen.shapes)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gen.shapes import parameter_count, shaped_modules

# Parameter counts of the published checkpoints (runwayml/stable-diffusion-v1-5, SDXL base 1.0).
PUBLISHED = {
    "sd15": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sdxl": {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    },
}


@pytest.mark.parametrize("shape", ["sd15", "sdxl"])
def test_the_shapes_have_the_published_sizes(shape: str) -> None:
    with torch.device("meta"):  # sizes only: no memory, no weights drawn
        modules = shaped_modules(shape)
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in modules.items()}
    assert counts == PUBLISHED[shape]


def test_parameter_count_of_a_pipeline(tiny_pipe: object) -> None:
    counts = parameter_count(tiny_pipe)
    assert set(counts) == {"unet", "vae", "text_encoder"} and all(n > 0 for n in counts.values())


def test_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model shape 'sd9'"):
        shaped_modules("sd9")


@pytest.mark.parametrize("extra", [["--family", "sdxl"], ["--inpainting"], ["--sdxl"]])
def test_shape_cannot_be_combined(tmp_path: object, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "imaginebot.app.cli", "make-tiny-model", str(tmp_path), "--shape", "sd15"]
    proc = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{extra[0]} cannot be combined with --shape" in proc.stderr
