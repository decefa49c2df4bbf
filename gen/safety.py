"""Image moderation: a verdict for every generated image (`moderation.image_check`).

`auto`: the model's own safety checker where its pipeline has one (a `safety_checker` with its
`feature_extractor`, as Stable Diffusion 1.x ships), else `moderation.image_classifier` (a transformers
image-classification model: a folder or a Hugging Face id), else nothing. `off`: nothing is checked.

The pipeline's own checker is always taken off the pipeline at load (`detach_safety_checker`): inside
the pipeline it would blacken flagged images, while the bot spoilers or withholds them as
`moderation.nsfw_action` says. A classifier flags an image when its top label is an NSFW label (one that
contains a word of `moderation.image_nsfw_labels`, e.g. `nsfw`, `porn`, `hentai`).

The worker checks a batch's decoded pictures after generation, off the generation thread (see
worker.settle), so the next batch's generation does not wait for it; a check that fails flags the whole
batch (fail closed) and says so in the log.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from gen.quiet import quiet_progress_bars
from imaginebot.core.domain import GenResult

log = logging.getLogger(__name__)

DEFAULT_NSFW_LABELS = ("nsfw", "porn", "hentai", "sexy", "explicit", "unsafe")


class ImageCheckError(ValueError):
    """Image moderation cannot start as configured; the message names the key and says what to do."""


class Checker(Protocol):
    def flag(self, pictures: Sequence[Image.Image]) -> list[bool]: ...


@dataclass
class PipelineChecker:
    """The model's own `StableDiffusionSafetyChecker` (or one that answers like it)."""

    checker: Any
    extractor: Any

    def flag(self, pictures: Sequence[Image.Image]) -> list[bool]:
        inputs = self.extractor(images=[p.convert("RGB") for p in pictures], return_tensors="pt")
        weights = next(self.checker.parameters())
        clip = inputs.pixel_values.to(weights.device, weights.dtype)
        # The checker blackens what it flags in the images it is given: give it stand-ins, keep ours.
        stand_ins = [np.zeros((1, 1, 3), dtype=np.float32) for _ in pictures]
        with torch.no_grad():
            _, flagged = self.checker(clip_input=clip, images=stand_ins)
        return [bool(f) for f in flagged]


@dataclass
class ClassifierChecker:
    """A transformers image classifier: an image is flagged when an NSFW label has the top score."""

    model: Any
    processor: Any
    nsfw: frozenset[int]  # the indices of the NSFW labels

    def flag(self, pictures: Sequence[Image.Image]) -> list[bool]:
        inputs = self.processor(images=[p.convert("RGB") for p in pictures], return_tensors="pt")
        weights = next(self.model.parameters())
        with torch.no_grad():
            logits = self.model(pixel_values=inputs["pixel_values"].to(weights.device, weights.dtype)).logits
        return [int(i) in self.nsfw for i in logits.argmax(dim=-1).tolist()]


class ImageModeration:
    """Checks the images of a batch's results and records the verdicts in `GenResult.flags`."""

    def __init__(self, checker: Checker, source: str) -> None:
        self.checker = checker
        self.source = source  # what decides, for the log: "the model's own safety checker", a classifier
        self._lock = threading.Lock()  # one batch at a time: torch modules are not re-entrant

    def flag(self, pictures: Sequence[Image.Image]) -> list[bool]:
        if not pictures:
            return []
        with self._lock:
            flags = self.checker.flag(pictures)
        if len(flags) != len(pictures):
            raise RuntimeError(f"the image check answered {len(flags)} verdicts for {len(pictures)} images")
        return flags

    def moderate(self, results: Sequence[GenResult]) -> list[GenResult]:
        """The results with `flags` set (blocking: call it in a thread). Failed results stay as they are.

        Jobs may run more than once: the same pictures get the same verdicts (the check is deterministic)."""
        checked = [r for r in results if r.failure is None and (r.pictures or r.images)]
        ids = {id(r) for r in checked}
        pictures = [p for r in checked for p in _pictures(r)]
        try:
            flags = self.flag(pictures)
        except Exception:
            log.exception(
                "image check (%s) failed for jobs %s; their images are treated as flagged",
                self.source,
                ", ".join(r.job_id for r in checked),
            )
            flags = [True] * len(pictures)
        verdicts = iter(flags)
        out = []
        for r in results:
            if id(r) in ids:
                mine = tuple(next(verdicts) for _ in range(len(r.pictures or r.images)))
                if any(mine):
                    log.info("job %s: image(s) %s flagged by %s", r.job_id, _numbers(mine), self.source)
                r = dataclasses.replace(r, flags=mine)
            out.append(r)
        return out


def _pictures(result: GenResult) -> list[Image.Image]:
    if result.pictures:
        return list(result.pictures)
    return [Image.open(io.BytesIO(png)) for png in result.images]


def _numbers(flags: Iterable[bool]) -> str:
    return ", ".join(str(k) for k, f in enumerate(flags, start=1) if f)


def detach_safety_checker(pipe: Any) -> PipelineChecker | None:
    """Take the pipeline's own safety checker off it (so it never blackens an image) and return it,
    with its feature extractor; None when the pipeline has none."""
    checker = getattr(pipe, "safety_checker", None)
    if checker is None:
        return None
    pipe.register_modules(safety_checker=None)
    if "requires_safety_checker" in getattr(pipe, "config", {}):
        pipe.register_to_config(requires_safety_checker=False)
    extractor = getattr(pipe, "feature_extractor", None)
    if extractor is None:
        log.warning("the model's safety checker has no feature extractor; it cannot be used")
        return None
    return PipelineChecker(checker, extractor)


def load_classifier(
    ref: str, *, nsfw_labels: Sequence[str] = DEFAULT_NSFW_LABELS, device: torch.device | str = "cpu"
) -> ClassifierChecker:
    """The image classifier `ref` (a folder or a Hugging Face id) with its image processor."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    quiet_progress_bars()
    try:
        model = AutoModelForImageClassification.from_pretrained(ref)
        processor = AutoImageProcessor.from_pretrained(ref)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ImageCheckError(
            f"moderation.image_classifier: cannot load {ref!r} as an image classifier ({reason}); "
            "set it to a transformers image-classification folder or id, or set moderation.image_check = "
            '"off"'
        ) from exc
    labels = {int(i): str(name) for i, name in model.config.id2label.items()}
    words = [w.strip().lower() for w in nsfw_labels if w.strip()]
    nsfw = frozenset(i for i, name in labels.items() if any(w in name.lower() for w in words))
    if not nsfw:
        raise ImageCheckError(
            f"moderation.image_classifier: none of the labels of {ref!r} ({', '.join(labels.values())}) "
            f"contains a word of moderation.image_nsfw_labels ({', '.join(words) or 'none'}); "
            "add the label that means NSFW there"
        )
    return ClassifierChecker(model.to(device).eval(), processor, nsfw)


def image_moderation(pipe: Any, settings: Any | None) -> ImageModeration | None:
    """The image check for a loaded pipeline as `settings` (the `moderation` section) say, or None.

    Always takes the pipeline's own checker off it (see the module docstring)."""
    own = detach_safety_checker(pipe)
    check = getattr(settings, "image_check", "off") if settings is not None else "off"
    if check == "off":
        return None
    if own is not None:
        log.info("image moderation: the model's own safety checker")
        return ImageModeration(own, "the model's own safety checker")
    ref = str(getattr(settings, "image_classifier", "") or "").strip()
    if not ref:
        log.info("image moderation: the model has no safety checker and no moderation.image_classifier "
                 "is set; images are not checked")
        return None
    labels = getattr(settings, "image_nsfw_labels", None) or DEFAULT_NSFW_LABELS
    device = getattr(pipe, "device", "cpu")
    classifier = load_classifier(ref, nsfw_labels=labels, device=device)
    log.info("image moderation: the classifier %s", ref)
    return ImageModeration(classifier, f"the classifier {ref}")
