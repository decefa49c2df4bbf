"""Text conditioning for a batch of jobs, computed exactly the way the pipeline computes it.

Every job is encoded with the pipeline's own `encode_prompt(prompt, device, n, do_cfg, negative)` — the
call `pipe(prompt, negative_prompt=…, num_images_per_prompt=n)` makes internally — and the per-job
tensors are concatenated along the batch. Passing them as `prompt_embeds`/`negative_prompt_embeds`
(+ pooled for SDXL) with `num_images_per_prompt=1` therefore feeds the UNet the very same numbers as a
plain diffusers call for one job, and lets one forward pass serve several jobs with different prompts.

SD3's `encode_prompt` returns the same four tensors as SDXL's (its CLIP and T5 features joined). FLUX's
returns the T5 embeds, the CLIP pooled embeds and the text ids (the same for every prompt, rebuilt by
the pipeline): FLUX has no negative conditioning, so `negative` stays None, and `--no` is refused.

`::` weights (gen.weights): SD 1.x/SDXL blend through compel; SD3 encodes each part with its own
`encode_prompt` and blends embeds and pooled embeds with the same normalised weights (compel's `Blend`
is that weighted sum), the negative prompt as usual; FLUX refuses them (the prompt parser already
does, per FAMILY_PROFILES; here it is a ValueError, the job's bad input).

`--chaos` perturbs each image's text embedding with seeded noise (see `chaos_embeds`), so the four
images of a grid drift apart in content; chaos 0 leaves the tensors untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gen.family import LABELS, pipeline_family
from gen.weights import WeightedEncoder, normalised_weights
from imaginebot.core.domain import JobSpec

# At chaos 100 each token embedding gets Gaussian noise of 0.25× its own spread.
TEXT_CHAOS = 0.25
CHAOS_SALT = 0x9E3779B97F4A7C15  # separates the chaos streams from the latent-noise stream of a seed


def chaos_generator(seed: int, stream: int = 0) -> torch.Generator:
    """A CPU generator for image seed `seed`'s chaos noise (`stream` 0: text, 1: latents).

    Independent of the seed's latent-noise stream, so chaos never changes which noise image k starts from.
    """
    return torch.Generator("cpu").manual_seed((seed + CHAOS_SALT * (1 + stream)) % 2**64)


@dataclass
class Conditioning:
    """Per-image conditioning tensors (batch dimension = images)."""

    embeds: torch.Tensor
    negative: torch.Tensor | None = None
    pooled: torch.Tensor | None = None
    negative_pooled: torch.Tensor | None = None

    def pipeline_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"prompt_embeds": self.embeds, "negative_prompt_embeds": self.negative}
        if self.pooled is not None:
            kwargs["pooled_prompt_embeds"] = self.pooled
            kwargs["negative_pooled_prompt_embeds"] = self.negative_pooled
        return kwargs

    @staticmethod
    def concat(parts: Sequence[Conditioning]) -> Conditioning:
        def cat(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
            present = [t for t in tensors if t is not None]
            if not present:
                return None
            if len(present) != len(tensors):
                raise ValueError("cannot batch jobs with and without negative conditioning")
            return torch.cat(present)

        embeds = cat([p.embeds for p in parts])
        assert embeds is not None
        return Conditioning(
            embeds=embeds,
            negative=cat([p.negative for p in parts]),
            pooled=cat([p.pooled for p in parts]),
            negative_pooled=cat([p.negative_pooled for p in parts]),
        )


class PromptEncoder:
    """Encodes job specs for one pipeline (SD 1.x/2.x, SDXL, SD3 or FLUX)."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.family = pipeline_family(pipe)
        self._weighted: WeightedEncoder | None = None

    @torch.no_grad()
    def encode(self, spec: JobSpec, n: int, do_cfg: bool, device: torch.device) -> Conditioning:
        """`n` images' conditioning for `spec`: `--no` becomes the negative prompt, `::` weights a blend."""
        negative = spec.negative_prompt or None
        weighted = spec.is_weighted and bool(spec.weights)
        if self.family == "flux":
            if negative or weighted:
                what = "negative prompt (--no)" if negative else "`::` prompt weights"
                raise ValueError(f"{LABELS['flux']} models take no {what}")
            pe, pooled, _text_ids = self.pipe.encode_prompt(
                prompt=spec.prompt, prompt_2=None, device=device, num_images_per_prompt=n
            )
            return Conditioning(pe, None, pooled, None)
        if self.family in ("sdxl", "sd3"):
            cond = self._encode_pooled(spec.prompt, n, do_cfg, negative, device)
        else:
            pe, ne = self.pipe.encode_prompt(spec.prompt, device, n, do_cfg, negative)
            cond = Conditioning(pe, ne if do_cfg else None)
        if not weighted:
            return cond
        if self.family == "sd3":
            parts = [self._encode_pooled(p.text, 1, False, None, device) for p in spec.weights]
            mix = normalised_weights(spec.weights)
            embeds = torch.stack([w * c.embeds for w, c in zip(mix, parts, strict=True)]).sum(dim=0)
            pooled_parts = [w * c.pooled for w, c in zip(mix, parts, strict=True) if c.pooled is not None]
            pooled = torch.stack(pooled_parts).sum(dim=0)
        else:
            if self._weighted is None:
                self._weighted = WeightedEncoder(self.pipe)
            embeds, pooled = self._weighted.encode(spec.weights)
        cond.embeds = embeds.to(device=device, dtype=cond.embeds.dtype).repeat(n, 1, 1)
        if pooled is not None and cond.pooled is not None:
            cond.pooled = pooled.to(device=device, dtype=cond.pooled.dtype).repeat(n, 1)
        return cond

    def _encode_pooled(
        self, prompt: str, n: int, do_cfg: bool, negative: str | None, device: torch.device
    ) -> Conditioning:
        """SDXL's and SD3's `encode_prompt` (embeds and pooled embeds, positive and negative)."""
        pe, ne, pp, npp = self.pipe.encode_prompt(
            prompt=prompt,
            prompt_2=None,
            **({"prompt_3": None} if self.family == "sd3" else {}),
            device=device,
            num_images_per_prompt=n,
            do_classifier_free_guidance=do_cfg,
            negative_prompt=negative,
        )
        return Conditioning(pe, ne if do_cfg else None, pp, npp if do_cfg else None)


def chaos_embeds(embeds: torch.Tensor, seeds: Sequence[int], chaos: int) -> torch.Tensor:
    """Image k's embedding + seeded noise scaled by chaos/100 (per-token spread); chaos 0 → unchanged."""
    if chaos <= 0:
        return embeds
    scale = TEXT_CHAOS * min(chaos, 100) / 100
    out = embeds.clone()
    for k, seed in enumerate(seeds):
        noise = torch.randn(embeds.shape[1:], generator=chaos_generator(seed), dtype=torch.float32)
        spread = embeds[k].float().std(dim=-1, keepdim=True)
        out[k] = (embeds[k].float() + scale * spread * noise.to(embeds.device)).to(embeds.dtype)
    return out
