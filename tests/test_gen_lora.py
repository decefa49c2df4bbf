"""LoRAs and textual-inversion embeddings in DiffusersEngine, on the tiny model, against plain diffusers.

The engine and the reference pipelines here are their own loads of the tiny model (not the session's
`tiny_pipe`), so the adapters and tokens loaded here never reach other tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fixtures_model import gen_request

from imaginebot.core.domain import Failure, LoraRef
from imaginebot.core.images import open_image, png_bytes

SIZE = (96, 96)
STEPS = 4


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(open_image(png)).astype(np.float64)


def distance(a: bytes, b: bytes) -> float:
    return float(np.abs(pixels(a) - pixels(b)).mean())


def fresh_pipe(model_dir: Path) -> Any:
    from gen.loader import load_pipeline

    return load_pipeline(str(model_dir), device="cpu")


def plain(pipe: Any, prompt: str, seed: int, negative: str = "") -> list[bytes]:
    """The plain diffusers call the engine's identity tests use."""
    images = pipe(
        prompt,
        negative_prompt=negative or None,
        width=SIZE[0],
        height=SIZE[1],
        num_inference_steps=STEPS,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(seed + k) for k in range(4)],
    ).images
    return [png_bytes(im) for im in images]


def job(*loras: tuple[str, float], prompt: str = "a red fox in snow", **kw: Any) -> Any:
    """A small request with `loras` ((name, weight) pairs)."""
    kw.setdefault("size", SIZE)
    kw.setdefault("steps", STEPS)
    return gen_request(prompt, loras=tuple(LoraRef(n, w) for n, w in loras), **kw)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path, tiny_loras_dir: Path, tiny_embeddings_dir: Path) -> Any:
    from gen.engine import DiffusersEngine

    return DiffusersEngine(
        fresh_pipe(tiny_model_dir),
        model_id="tiny",
        preview_interval=0.0,
        loras_dir=tiny_loras_dir,
        embeddings_dir=tiny_embeddings_dir,
    )


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path, tiny_loras_dir: Path) -> Any:
    """Plain diffusers with `ink` and `paint` loaded the ordinary way (path + weight_name)."""
    pipe = fresh_pipe(tiny_model_dir)
    for name in ("ink", "paint"):
        pipe.load_lora_weights(str(tiny_loras_dir), weight_name=f"{name}.safetensors", adapter_name=name)
    return pipe


@pytest.fixture(scope="module")
def before(engine: Any) -> list[bytes]:
    """A plain job's images before any LoRA was loaded into the engine."""
    assert engine.loras.loaded == []
    [res] = engine.generate([job(seed=42)])
    return list(res.images)


def test_lora_job_equals_plain_diffusers(engine: Any, reference: Any, before: list[bytes]) -> None:
    [res] = engine.generate([job(("ink", 0.8), seed=42)])
    reference.set_adapters(["ink"], adapter_weights=[0.8])
    assert res.failure is None
    assert res.images == plain(reference, "a red fox in snow", 42)
    assert distance(res.images[0], before[0]) > 2.0  # and it visibly changes the picture


def test_two_loras_with_a_negative_weight(engine: Any, reference: Any, before: list[bytes]) -> None:
    req = job(("ink", 0.7), ("paint", -0.5), seed=42, negative_prompt="blurry")
    [res] = engine.generate([req])
    reference.set_adapters(["ink", "paint"], adapter_weights=[0.7, -0.5])
    assert res.images == plain(reference, "a red fox in snow", 42, negative="blurry")
    [flipped] = engine.generate([job(("ink", 0.7), ("paint", 0.5), seed=42)])
    assert distance(flipped.images[0], res.images[0]) > 0.5


def test_plain_batch_after_lora_batches_is_unchanged(engine: Any, before: list[bytes]) -> None:
    engine.generate([job(("ink", 1.0), seed=42)])
    assert "ink" in engine.loras.loaded
    [again] = engine.generate([job(seed=42)])
    assert again.images == before


def test_batch_of_lora_jobs_matches_single_runs(engine: Any) -> None:
    reqs = [
        job(("paint", 1.2), prompt="a red fox", job_id="a", seed=1),
        job(("paint", 1.2), prompt="a cat", job_id="b", seed=9),
    ]
    batched = engine.generate(reqs)
    for res, req in zip(batched, reqs, strict=True):
        [single] = engine.generate([req])
        worst = max(
            float(np.abs(pixels(x) - pixels(y)).max()) for x, y in zip(res.images, single.images, strict=True)
        )
        assert worst <= 2


def test_kohya_lora_loads_and_changes_the_images(engine: Any, before: list[bytes]) -> None:
    [res] = engine.generate([job(("kohya", 1.0), seed=42)])
    assert res.failure is None
    assert distance(res.images[0], before[0]) > 2.0
    [again] = engine.generate([job(("kohya", 1.0), seed=42)])
    assert again.images == res.images


@pytest.mark.parametrize("name", ["nosuch", "broken"])
def test_missing_or_broken_lora_fails_its_jobs_alone(engine: Any, name: str, before: list[bytes]) -> None:
    reqs = [job((name, 1.0), job_id="a"), job((name, 1.0), job_id="b", seed=3)]
    results = engine.generate(reqs)
    assert [r.job_id for r in results] == ["a", "b"]
    for r in results:
        assert r.failure is Failure.BAD_INPUT and r.images == []
        assert name in (r.detail or "")
    assert name not in engine.loras.loaded
    [ok] = engine.generate([job(seed=42)])  # the engine is fine afterwards
    assert ok.images == before


def test_variation_with_a_lora_uses_it(engine: Any) -> None:
    [src] = engine.generate([job(seed=12)])
    common: dict[str, Any] = dict(kind="variation", seed=5, source_png=src.images[0], strength=0.6)
    [without] = engine.generate([job(**common)])
    [with_lora] = engine.generate([job(("ink", 1.0), **common)])
    assert distance(with_lora.images[0], without.images[0]) > 1.0
    raw = engine.img2img(  # the img2img pipeline shares the modules, so the adapter is active there too
        "a red fox in snow",
        image=open_image(src.images[0]),
        strength=0.6,
        num_inference_steps=STEPS,
        guidance_scale=7.0,
        num_images_per_prompt=4,
        generator=[torch.Generator("cpu").manual_seed(5 + k) for k in range(4)],
    ).images
    assert [png_bytes(im) for im in raw] == with_lora.images


# -- embeddings -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ti_reference(tiny_model_dir: Path, tiny_embeddings_dir: Path) -> Any:
    pipe = fresh_pipe(tiny_model_dir)
    pipe.load_textual_inversion(str(tiny_embeddings_dir / "zqxstyle.safetensors"), token="zqxstyle")
    pipe.load_textual_inversion(
        str(tiny_embeddings_dir), weight_name="zqxmulti.pt", token="zqxmulti", use_safetensors=False
    )
    return pipe


def test_embeddings_are_loaded_and_broken_ones_skipped(engine: Any) -> None:
    assert engine.embeddings == ["zqxmulti", "zqxstyle"]


@pytest.mark.parametrize("word", ["zqxstyle", "zqxmulti"])
def test_embedding_job_equals_plain_textual_inversion(engine: Any, ti_reference: Any, word: str) -> None:
    engine.generate([job(("ink", 1.0))])  # and a LoRA left active before does not leak into it
    [res] = engine.generate([job(prompt=f"a red fox, {word}", seed=42, negative_prompt=f"{word} blurry")])
    assert res.images == plain(ti_reference, f"a red fox, {word}", 42, negative=f"{word} blurry")
    [other] = engine.generate([job(prompt="a red fox, zqxnothing", seed=42)])
    assert distance(res.images[0], other.images[0]) > 1.0


def test_a_word_without_an_embedding_is_unaffected(engine: Any, tiny_pipe: Any) -> None:
    [res] = engine.generate([job(prompt="a red fox, zqxnothing", seed=42, negative_prompt="zqxbroken")])
    assert res.images == plain(tiny_pipe, "a red fox, zqxnothing", 42, negative="zqxbroken")


def test_weighted_prompts_use_every_vector_of_an_embedding(engine: Any) -> None:
    """The compel path expands a multi-vector embedding like encode_prompt: blending a part with itself
    gives the very conditioning of the plain prompt."""
    from gen.weights import WeightedEncoder
    from imaginebot.core.domain import PromptPart

    text = "a zqxmulti fox"
    plain_embeds, _ = engine.pipe.encode_prompt(text, torch.device("cpu"), 1, False)
    weighted = WeightedEncoder(engine.pipe)
    embeds, _ = weighted.encode([PromptPart(text, 1.0), PromptPart(text, 1.0)])
    assert torch.allclose(embeds, plain_embeds, atol=1e-5)
    first_only, _ = engine.pipe.encode_prompt("a zqxmulti_1 fox", torch.device("cpu"), 1, False)
    assert not torch.allclose(first_only, plain_embeds, atol=1e-3)  # (all three vectors matter)
    mixed, _ = weighted.encode([PromptPart("a zqxnothing fox", 1.0), PromptPart(text, 1.0)])
    assert not torch.allclose(mixed, plain_embeds, atol=1e-3)


def test_load_engine_passes_the_folders(
    tiny_model_dir: Path, tiny_loras_dir: Path, tiny_embeddings_dir: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """Relative `gen.loras_dir` / `gen.embeddings_dir` are resolved against the working directory."""
    from gen.runner import load_engine
    from imaginebot.core.config import GenSettings

    monkeypatch.chdir(tiny_loras_dir.parent)
    settings = GenSettings(
        device="cpu", loras_dir=tiny_loras_dir.name, embeddings_dir=str(tiny_embeddings_dir)
    )
    threaded = load_engine(settings, tmp_path, model_override=str(tiny_model_dir))
    try:
        inner = threaded.engine
        assert inner.loras.loras_dir == Path(tiny_loras_dir.name)
        assert inner.embeddings == ["zqxmulti", "zqxstyle"]
        [res] = inner.generate([job(("kohya", 0.5), steps=2)])
        assert res.failure is None and len(res.images) == 4
    finally:
        threaded.close()
