"""Weighted multi-prompts (`a::2 b::-0.5`) as a compel blend of per-part text embeddings.

Each `::` part is encoded on its own and the embeddings are mixed with the normalised weights
(w_i / Σw — the parser guarantees Σw > 0), which is compel's `Blend`. A negative weight therefore
*subtracts* that part's direction from the mix, the Midjourney meaning of `::-0.5`. We build compel's
`Blend` objects directly instead of writing compel syntax, so the user's text is never parsed as compel
markup (parentheses, `+`/`-` and quotes stay literal).

Embeddings match the pipeline's own: SD 1.x uses the text encoder's last hidden state (normalised);
SDXL concatenates the penultimate hidden states of both encoders and blends the pooled output of the
second with the same weights. Unweighted prompts never come here: they use the pipeline's
`encode_prompt` so that they stay bit-identical to plain diffusers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from imaginebot.core.domain import PromptPart


def _blend(parts: Sequence[PromptPart]) -> Any:
    from compel.prompt_parser import Blend, Conjunction, FlattenedPrompt, Fragment

    prompts = [FlattenedPrompt([Fragment(p.text, 1.0)]) for p in parts]
    return Conjunction([Blend(prompts, [float(p.weight) for p in parts], normalize_weights=True)])


def normalised_weights(parts: Sequence[PromptPart]) -> list[float]:
    total = sum(p.weight for p in parts)
    if total <= 0:
        raise ValueError("the weights of a multi-prompt must add up to more than zero")
    return [p.weight / total for p in parts]


class _TextualInversion:
    """compel's hook for multi-vector textual-inversion tokens: NAME → NAME NAME_1 … (the pipeline's own
    `maybe_convert_prompt`), for one tokenizer. A plain prompt gets the same from `encode_prompt`."""

    def __init__(self, pipe: Any, tokenizer: Any) -> None:
        self.pipe = pipe
        self.tokenizer = tokenizer

    def expand_textual_inversion_token_ids_if_necessary(self, token_ids: list[int]) -> list[int]:
        convert = getattr(self.pipe, "maybe_convert_prompt", None)
        if not token_ids or convert is None:
            return token_ids
        prompt = convert(self.tokenizer.decode(token_ids), self.tokenizer)
        return list(self.tokenizer.encode(prompt, add_special_tokens=False))


class WeightedEncoder:
    """Builds blended embeddings for one pipeline (SD 1.x or SDXL); create once and reuse."""

    def __init__(self, pipe: Any) -> None:
        from compel import Compel, ReturnedEmbeddingsType

        self.sdxl = getattr(pipe, "text_encoder_2", None) is not None
        if not self.sdxl:
            self._compels = [
                Compel(
                    tokenizer=pipe.tokenizer,
                    text_encoder=pipe.text_encoder,
                    truncate_long_prompts=True,
                    textual_inversion_manager=_TextualInversion(pipe, pipe.tokenizer),
                )
            ]
            return
        penultimate = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED
        self._compels = [
            Compel(
                tokenizer=pipe.tokenizer,
                text_encoder=pipe.text_encoder,
                returned_embeddings_type=penultimate,
                truncate_long_prompts=True,
                textual_inversion_manager=_TextualInversion(pipe, pipe.tokenizer),
            ),
            Compel(
                tokenizer=pipe.tokenizer_2,
                text_encoder=pipe.text_encoder_2,
                returned_embeddings_type=penultimate,
                truncate_long_prompts=True,
                requires_pooled=True,
                textual_inversion_manager=_TextualInversion(pipe, pipe.tokenizer_2),
            ),
        ]

    @torch.no_grad()
    def encode(self, parts: Sequence[PromptPart]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(embeds (1, 77, dim), pooled (1, dim) for SDXL else None) for the weighted parts."""
        weights = normalised_weights(parts)
        embeds = []
        for compel in self._compels:
            tensor, _options = compel.build_conditioning_tensor_for_conjunction(_blend(parts))
            embeds.append(tensor)
        blended = torch.cat(embeds, dim=-1)
        if not self.sdxl:
            return blended, None
        provider = self._compels[1].conditioning_provider
        pooled = [provider.get_pooled_embeddings([p.text]) for p in parts]
        mix = sum(w * t for w, t in zip(weights, pooled, strict=True))
        assert isinstance(mix, torch.Tensor)
        return blended, mix
