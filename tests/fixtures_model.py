"""Model fixtures: the tiny random-weight pipeline, built once per test session.

`tiny_model_dir` is the SD 1.x tiny model in diffusers layout (plus the same weights as one
original-layout `.safetensors`, `tiny_single_file`); `tiny_pipe` / `tiny_engine` load it once;
`tiny_sdxl_dir` builds the SDXL variant and `tiny_inpaint_dir` a dedicated inpainting model (9-channel
UNet) only for the tests that ask for them; `tiny_sd3_dir` and `tiny_flux_dir` the SD3 and FLUX models
(gen.tiny_families). Everything is offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Nothing in the tests may reach the Hugging Face Hub (set before huggingface_hub is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# torch's OpenMP threads sleep instead of spinning while waiting (see gen/__init__.py); must precede torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "gen_request",
    "tiny_embeddings_dir",
    "tiny_engine",
    "tiny_flux_dir",
    "tiny_inpaint_dir",
    "tiny_loras_dir",
    "tiny_model_dir",
    "tiny_pipe",
    "tiny_sd3_dir",
    "tiny_sdxl_dir",
    "tiny_single_file",
]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SD 1.x model (diffusers layout); its single-file twin lies next to it."""
    from gen.tiny import make_tiny_model

    root = tmp_path_factory.mktemp("tiny-model")
    make_tiny_model(root / "tiny-sd", single_file=root / "tiny-sd.safetensors")
    return root / "tiny-sd"


@pytest.fixture(scope="session")
def tiny_single_file(tiny_model_dir: Path) -> Path:
    """The tiny model's weights as one original-layout (LDM) .safetensors checkpoint."""
    return tiny_model_dir.parent / "tiny-sd.safetensors"


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SDXL model, written through the `make-tiny-model --sdxl --single-file` command."""
    import argparse

    from imaginebot.app.make_tiny_model import run_make_tiny_model

    root = tmp_path_factory.mktemp("tiny-sdxl")
    args = argparse.Namespace(
        dir=str(root / "tiny-sdxl"), sdxl=True, single_file=str(root / "tiny-sdxl.safetensors")
    )
    assert run_make_tiny_model(args) == 0
    return root / "tiny-sdxl"


@pytest.fixture(scope="session")
def tiny_inpaint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dedicated inpainting model (9-channel UNet), written through `make-tiny-model --inpainting
    --single-file`; its single-file twin `tiny-inpaint.safetensors` lies next to it."""
    import argparse

    from imaginebot.app.make_tiny_model import run_make_tiny_model

    root = tmp_path_factory.mktemp("tiny-inpaint")
    single = str(root / "tiny-inpaint.safetensors")
    args = argparse.Namespace(dir=str(root / "tiny-inpaint"), sdxl=False, inpainting=True, single_file=single)
    assert run_make_tiny_model(args) == 0
    return root / "tiny-inpaint"


@pytest.fixture(scope="session")
def tiny_sd3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SD 3 model (StableDiffusion3Pipeline, diffusers layout)."""
    from gen.tiny import make_tiny_model

    folder = tmp_path_factory.mktemp("tiny-sd3") / "tiny-sd3"
    make_tiny_model(folder, family="sd3")
    return folder


@pytest.fixture(scope="session")
def tiny_flux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny FLUX.1 model (FluxPipeline, diffusers layout), written by `imaginebot make-tiny-model DIR
    --family flux`."""
    from imaginebot.app.cli import main

    folder = tmp_path_factory.mktemp("tiny-flux") / "tiny-flux"
    assert main(["make-tiny-model", str(folder), "--family", "flux"]) == 0
    return folder


@pytest.fixture(scope="session")
def tiny_loras_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA folder for the tiny SD 1.x model: `ink` and `paint` (diffusers/peft keys), `kohya`
    (A1111/kohya-ss keys, UNet only) and `broken` (not a LoRA file)."""
    from gen.tiny_adapters import make_tiny_lora

    folder = tmp_path_factory.mktemp("loras")
    make_tiny_lora(tiny_model_dir, folder / "ink.safetensors", seed=1)
    make_tiny_lora(tiny_model_dir, folder / "paint.safetensors", seed=2, rank=2)
    make_tiny_lora(tiny_model_dir, folder / "kohya.safetensors", seed=3, kohya=True, text_encoder=False)
    (folder / "broken.safetensors").write_bytes(b"this is not a safetensors file")
    return folder


@pytest.fixture(scope="session")
def tiny_embeddings_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embeddings folder for the tiny SD 1.x model: `zqxstyle` (one vector, .safetensors),
    `zqxmulti` (three vectors, A1111 .pt) and `zqxbroken.bin` (not an embedding: skipped)."""
    from gen.tiny_adapters import make_tiny_embedding

    folder = tmp_path_factory.mktemp("embeddings")
    make_tiny_embedding(tiny_model_dir, folder / "zqxstyle.safetensors", seed=1)
    make_tiny_embedding(tiny_model_dir, folder / "zqxmulti.pt", vectors=3, seed=2)
    (folder / "zqxbroken.bin").write_bytes(b"not a pickle")
    return folder


@pytest.fixture(scope="session")
def tiny_pipe(tiny_model_dir: Path) -> Any:
    """The tiny text-to-image pipeline on CPU, loaded through gen.loader (the production path)."""
    from gen.loader import load_pipeline

    return load_pipeline(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def tiny_engine(tiny_pipe: Any) -> Iterator[Any]:
    """A DiffusersEngine over `tiny_pipe` (previews at every step, so tests see them)."""
    from gen.engine import DiffusersEngine

    engine = DiffusersEngine(tiny_pipe, model_id="tiny", preview_interval=0.0)
    yield engine


def gen_request(
    prompt: str = "a red fox in snow",
    *,
    job_id: str = "job-1",
    seed: int = 42,
    kind: str = "imagine",
    size: tuple[int, int] = (128, 128),
    steps: int = 6,
    source_png: bytes | None = None,
    strength: float | None = None,
    edit: Any = None,
    **spec: Any,
) -> Any:
    """A GenRequest with a small, fast default spec; `spec` overrides JobSpec fields (e.g. chaos=50).

    `edit` is an edit's EditPlan (kinds zoom_out, pan, make_square, vary_region, upscale_subtle/_creative).
    """
    from imaginebot.core.domain import GenRequest, JobKind, JobSpec, PromptPart

    weights = spec.pop("weights", None)
    parts = tuple(PromptPart(t, w) for t, w in weights) if weights else (PromptPart(prompt, 1.0),)
    job = JobSpec(prompt=prompt, weights=parts, width=size[0], height=size[1], steps=steps, seed=seed, **spec)
    return GenRequest(job_id, JobKind(kind), job, seed, source_png=source_png, strength=strength, edit=edit)
