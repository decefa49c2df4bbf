"""Tiny random-weight image checkers for tests and offline trials of image moderation (gen.safety).

`make_tiny_classifier(folder, verdict=…)` saves a transformers image-classification model (a ViT a few
kilobytes large, labels `normal` and `nsfw`) with its image processor, loadable as
`moderation.image_classifier`. `tiny_safety_checker(verdict=…)` builds a diffusers
`StableDiffusionSafetyChecker` (a tiny CLIP vision tower) with its `CLIPImageProcessor`, to register on a
pipeline as the model's own checker; `save_with_safety_checker` saves a tiny SD model that ships one.

Random weights decide nothing sensible, so each builder takes a forced `verdict`: "nsfw" makes every image
flagged, "normal" none, None leaves the random weights to decide. The verdict is forced in the weights
themselves (the classifier head's bias; the checker's concept thresholds), so the real model code runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

Verdict = Literal["normal", "nsfw"] | None

LABELS = ("normal", "nsfw")
IMAGE_SIZE = 32  # the tiny models look at 32×32 pixels
FORCE = 100.0  # a logit margin no random activation overcomes


def make_tiny_classifier(folder: str | Path, *, verdict: Verdict = None, seed: int = 0) -> Path:
    """Save a tiny ViT image classifier (labels normal / nsfw) and its image processor into `folder`."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=IMAGE_SIZE,
        patch_size=8,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = ViTForImageClassification(config).eval()
    if verdict is not None:
        force_label(model, verdict)
    processor = ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def force_label(model: Any, label: str) -> None:
    """Make `label` win for every image: a zero head whose bias favours it by FORCE."""
    index = model.config.label2id[label]
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[index] = FORCE


def tiny_safety_checker(*, verdict: Verdict = None, seed: int = 0) -> tuple[Any, Any]:
    """A tiny `StableDiffusionSafetyChecker` and the `CLIPImageProcessor` that feeds it."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(seed)
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": IMAGE_SIZE,
        "patch_size": 8,
    }
    text = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)
    checker = StableDiffusionSafetyChecker(config).eval()
    if verdict is not None:
        force_concepts(checker, verdict)
    extractor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    return checker, extractor


def force_concepts(checker: Any, verdict: str) -> None:
    """Every image matches a concept ("nsfw": thresholds below any cosine) or none ("normal": above)."""
    threshold = -2.0 if verdict == "nsfw" else 2.0  # a cosine lies in [-1, 1]
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(2.0)


def save_with_safety_checker(model_dir: str | Path, folder: str | Path, *, verdict: Verdict = None) -> Path:
    """A copy of the tiny SD 1.x model in `model_dir` that ships its own safety checker (as SD 1.5 does),
    saved into `folder`: loading it is the path of a real model with a checker."""
    from diffusers import StableDiffusionPipeline

    checker, extractor = tiny_safety_checker(verdict=verdict)
    pipe = StableDiffusionPipeline.from_pretrained(
        str(model_dir), safety_checker=checker, feature_extractor=extractor, requires_safety_checker=True
    )
    pipe.save_pretrained(str(folder))
    return Path(folder)
