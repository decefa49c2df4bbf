"""Textual-inversion embeddings: a file `NAME.safetensors`/`.pt`/`.bin` in `gen.embeddings_dir` makes
the word NAME in a prompt (or `--no`) use its vectors.

Each file is loaded once, when the engine is built, with the pipeline's own `load_textual_inversion(…,
token=NAME)`: NAME (and NAME_1, NAME_2, … for a multi-vector embedding) become tokens of the tokenizer
and rows of the text encoder's embedding table. The pipeline's `encode_prompt` expands NAME to all its
vectors (`maybe_convert_prompt`), and so does the weighted-prompt encoder (gen.weights passes a
textual-inversion manager to compel), so every prompt path uses the embedding; the img2img and
inpainting pipelines share the tokenizer and text encoder.

SDXL: an SDXL embedding file holds `clip_l` and `clip_g` tensors, loaded into the first and second text
encoder respectively; an SD 1.x embedding cannot serve an SDXL model and is skipped (and vice versa).
A file that cannot be loaded — wrong width, unreadable, or a NAME the tokenizer already has as a
token (CLIP's vocabulary has many short words: pick a distinctive name) — is logged and skipped.

SD 3/3.5 and FLUX.1 pipelines have no textual-inversion loader (their prompts also go through T5): an
embeddings folder is skipped for them with one log line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gen.family import LABELS, is_transformer_family, pipeline_family
from gen.lora import read_weights
from imaginebot.core.catalogue import EMBEDDING_SUFFIXES

log = logging.getLogger(__name__)


def embedding_files(embeddings_dir: Path | None) -> list[Path]:
    """The embedding files in `embeddings_dir` (sorted; a missing folder has none)."""
    if embeddings_dir is None or not embeddings_dir.is_dir():
        return []
    return sorted(
        p for p in embeddings_dir.iterdir() if p.is_file() and p.suffix in EMBEDDING_SUFFIXES and p.stem
    )


def load_embedding(pipe: Any, path: Path, token: str) -> None:
    """Load one embedding file into `pipe` as `token` (both text encoders for SDXL). Raises on failure."""
    state = read_weights(path)
    if getattr(pipe, "text_encoder_2", None) is None:
        if "clip_l" in state and "clip_g" in state:
            raise ValueError("an SDXL embedding (clip_l/clip_g) cannot serve an SD 1.x/2.x model")
        pipe.load_textual_inversion(state, token=token)
        return
    if "clip_l" not in state or "clip_g" not in state:
        raise ValueError("an SDXL model needs an SDXL embedding (clip_l and clip_g)")
    pipe.load_textual_inversion(
        state["clip_l"], token=token, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer
    )
    try:
        pipe.load_textual_inversion(
            state["clip_g"], token=token, text_encoder=pipe.text_encoder_2, tokenizer=pipe.tokenizer_2
        )
    except Exception:
        pipe.unload_textual_inversion(token, tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder)
        raise


def load_embeddings(pipe: Any, embeddings_dir: Path | None) -> list[str]:
    """Load every embedding file in `embeddings_dir` into `pipe`; return the names loaded.

    A file that cannot be loaded is logged and skipped; SD3 and FLUX models skip them all."""
    family = pipeline_family(pipe)
    if is_transformer_family(family):
        files = embedding_files(embeddings_dir)
        if files:
            log.warning(
                "textual-inversion embeddings are SD 1.x/2.x and SDXL only: %d in %s skipped for a %s model",
                len(files),
                embeddings_dir,
                LABELS[family],
            )
        return []
    loaded = []
    for path in embedding_files(embeddings_dir):
        token = path.stem
        if token in loaded:
            log.warning("embedding %s: %r is already loaded from another file; skipped", path, token)
            continue
        try:
            load_embedding(pipe, path, token)
        except Exception as exc:
            log.warning("embedding %s cannot be loaded, skipped: %s", path, str(exc).strip()[:300])
            continue
        loaded.append(token)
        log.info("loaded embedding %r from %s", token, path)
    return loaded
