"""The real CLIP tokenizer, built offline from the vendored OpenAI BPE vocabulary.

Stable Diffusion's text encoders use OpenAI's CLIP tokenizer (49 408 tokens). Hugging Face ships it as a
`vocab.json` + `merges.txt` pair; OpenAI ships the same data as `bpe_simple_vocab_16e6.txt.gz` (MIT,
see assets/LICENSE-clip-bpe.txt). We vendor the latter (1.3 MB) and derive the pair exactly as CLIP's
own `SimpleTokenizer` does, so the tiny model tokenizes text like a real checkpoint — prompt lengths,
truncation at 77 tokens and compel's weighting all behave as they will in production — without any
download at run time.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

BPE_ASSET = "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
# The first line of the file is a header; CLIP keeps the next 49152 - 256 - 2 merges.
_N_MERGES = 49152 - 256 - 2


def bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible byte → printable character table (avoids whitespace/control characters)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """(vocab, merges) exactly as OpenAI's SimpleTokenizer builds them; vocab has 49 408 entries."""
    raw = resources.files("gen").joinpath("assets", BPE_ASSET).read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    merges = lines[1 : _N_MERGES + 1]
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    tokens += ["".join(m.split()) for m in merges]
    tokens += [BOS, EOS]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:  # pragma: no cover - guards a corrupted asset
        raise RuntimeError(f"CLIP vocabulary has {len(vocab)} entries, expected {VOCAB_SIZE}")
    return vocab, merges


def write_clip_tokenizer_files(folder: Path) -> None:
    """Write vocab.json and merges.txt (the Hugging Face file layout of openai/clip-vit-large-patch14)."""
    vocab, merges = clip_vocab_and_merges()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def clip_tokenizer(*, pad_token: str = EOS, model_max_length: int = 77) -> Any:
    """A transformers `CLIPTokenizer` over the vendored vocabulary.

    SD 1.x pads with `<|endoftext|>`; SDXL's second tokenizer pads with `!` — pass `pad_token="!"` for it.
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    return CLIPTokenizer(
        vocab=dict(vocab),
        merges=cast(Any, [tuple(m.split()) for m in merges]),
        pad_token=pad_token,
        model_max_length=model_max_length,
    )


# The tiny T5 tokenizer's vocabulary: special tokens, single characters (word-initial and inner) and the
# most frequent whole words of CLIP's vocabulary.
T5_SPECIAL = ("<pad>", "</s>", "<unk>")
T5_WORDS = 4000
_T5_CHARS = [chr(c) for c in range(ord("!"), ord("~") + 1)]


@lru_cache(maxsize=1)
def t5_vocab() -> tuple[tuple[str, float], ...]:
    """(piece, log-probability) pairs of the tiny T5 tokenizer; whole words outscore their spelling."""
    vocab, _merges = clip_vocab_and_merges()
    words = [t[:-4] for t in vocab if t.endswith("</w>") and len(t) > 5 and t[:-4].isalpha()]
    pieces: list[tuple[str, float]] = [(t, 0.0) for t in T5_SPECIAL] + [("▁", -4.0)]
    pieces += [("▁" + c, -6.0) for c in _T5_CHARS] + [(c, -6.0) for c in _T5_CHARS]
    pieces += [("▁" + w, -5.0) for w in words[:T5_WORDS]]
    return tuple(pieces)


def t5_tokenizer() -> Any:
    """A T5 tokenizer (SentencePiece-style Unigram model, `</s>` appended, `<pad>` = 0) built offline.

    The real T5 vocabulary is a SentencePiece model that cannot be made without a download; this one is
    a small Unigram vocabulary (`t5_vocab`) over the same machinery (transformers' `T5Tokenizer`, a
    `tokenizers` Unigram model with Metaspace pre-tokenisation), so padding, truncation and
    `save_pretrained`/`from_pretrained` behave as with a real T5 tokenizer.
    """
    from transformers import T5Tokenizer

    return T5Tokenizer(vocab=list(t5_vocab()), extra_ids=0, model_max_length=512)
