"""`/describe`: four prompts for a picture from `gen.captioner`, a transformers image-to-text model (a local
folder or a Hugging Face id; e.g. BLIP, GIT or a ViT + GPT-2 VisionEncoderDecoder).

The model, its image processor and its tokenizer load with the Auto classes
(`AutoModelForImageTextToText`, `AutoImageProcessor`, `AutoTokenizer`). `describe` samples several
captions in one `generate` call (nucleus sampling under a fixed seed, so the same picture always gives
the same prompts), forbids the end of the text before a few tokens and the pad/unknown tokens
throughout (a model must say *something*), cleans them up, and returns exactly four distinct, non-empty
prompts of at most MAX_CHARS characters. When the model repeats itself, the missing ones are the first
caption with a different style suffix (SUFFIXES), deterministically.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gen.loader import ModelLoadError, _looks_like_path, load_error
from gen.quiet import quiet_progress_bars

log = logging.getLogger(__name__)

SETTING = "gen.captioner"
PROMPTS = 4
SAMPLES = 8  # captions sampled per picture; the first four distinct ones are kept
SEED = 1234
MAX_CHARS = 200
MIN_NEW_TOKENS = 4
MAX_NEW_TOKENS = 40
TOP_P = 0.9
FALLBACK = "an image"
SUFFIXES = ("detailed", "soft light", "wide shot", "close-up", "vivid colors", "minimalist")


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" \t\n,.;:-")
    if len(text) > MAX_CHARS:
        cut = text[: MAX_CHARS + 1].rsplit(" ", 1)[0]
        text = (cut if cut else text[:MAX_CHARS]).rstrip(" ,.;:-")[:MAX_CHARS]
    return text


def four_prompts(captions: list[str]) -> list[str]:
    """Exactly PROMPTS distinct non-empty prompts from `captions` (in order), topped up with variations."""
    out: list[str] = []
    for caption in captions:
        text = _clean(caption)
        if text and text.lower() not in (o.lower() for o in out):
            out.append(text)
        if len(out) == PROMPTS:
            return out
    base = out[0] if out else FALLBACK
    for suffix in SUFFIXES:
        if len(out) == PROMPTS:
            break
        candidate = _clean(f"{base[: MAX_CHARS - len(suffix) - 2]}, {suffix}")
        if candidate.lower() not in (o.lower() for o in out):
            out.append(candidate)
    if not out or len(out) < PROMPTS:  # pragma: no cover - SUFFIXES always suffice
        raise RuntimeError("could not make four distinct prompts")
    return out


class Captioner:
    """An image-to-text model for `/describe`, loaded once."""

    def __init__(
        self, ref: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> None:
        quiet_progress_bars()
        from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

        text = str(ref).strip()
        if not text:
            raise ModelLoadError(f"{SETTING} is empty: set it to an image-to-text model folder or id")
        path = Path(text).expanduser()
        local = path.is_dir()
        if not local and (path.exists() or _looks_like_path(text)):
            raise ModelLoadError(f"{SETTING}: {text} is not a model folder (a transformers folder or an id)")
        if local and not (path / "config.json").is_file():
            raise ModelLoadError(f"{SETTING}: {path} is not a transformers model folder (no config.json)")
        source = str(path) if local else text
        try:
            self.model: Any = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
            self.processor: Any = AutoImageProcessor.from_pretrained(source)
            self.tokenizer: Any = AutoTokenizer.from_pretrained(source)
        except Exception as exc:
            raise load_error(SETTING, "captioner", text, exc, local=local) from exc
        self.device = torch.device(device)
        self.dtype = dtype
        model: Any = self.model
        model.to(self.device)
        model.eval()
        self.ref = text
        log.info("loaded captioner %s on %s", text, self.device)

    def _suppressed(self) -> list[int]:
        eos = self.tokenizer.eos_token_id
        ids = {self.tokenizer.pad_token_id, self.tokenizer.unk_token_id}
        return sorted(i for i in ids if isinstance(i, int) and i != eos)

    @torch.no_grad()
    def captions(self, image: Image.Image, samples: int = SAMPLES) -> list[str]:
        """`samples` raw sampled captions of `image` (deterministic)."""
        pixels = self.processor(images=image.convert("RGB"), return_tensors="pt").pixel_values
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(SEED)
            out = self.model.generate(
                pixel_values=pixels,
                do_sample=True,
                top_p=TOP_P,
                num_return_sequences=samples,
                min_new_tokens=MIN_NEW_TOKENS,
                max_new_tokens=MAX_NEW_TOKENS,
                suppress_tokens=self._suppressed() or None,
            )
        return [str(t) for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def describe(self, png: bytes | Image.Image) -> list[str]:
        """Four distinct prompts for the picture (PNG/JPEG/… bytes or a PIL image), deterministic."""
        if isinstance(png, Image.Image):
            image = png
        else:
            image = Image.open(io.BytesIO(png))
            image.load()
        return four_prompts(self.captions(image))
