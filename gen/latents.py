"""Starting latents: seeded noise (txt2img, with `--chaos`) and encoded source images (img2img, inpainting).

Seeds follow INTERFACE.md: image k of a job with seed S starts from `torch.Generator("cpu")
.manual_seed(S + k - 1)`. We draw from those generators exactly as diffusers does (`randn_tensor` with a
generator list; VAE `latent_dist.sample(generator[k])` for img2img), so a plain diffusers call with the
same generators gives the same pictures and each image can be reproduced alone.

FLUX samples *packed* latents (each 2×2 patch of the 16 latent channels one 64-wide token); its
`prepare_latents` draws the noise unpacked, at latent sizes rounded down to even, and packs it. We draw
and perturb (`--chaos`) the same unpacked noise and pack it the same way (`pack_latents`), so chaos
acts on the picture's layout for FLUX exactly as for the other families.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from gen.conditioning import chaos_generator
from gen.family import pipeline_family

# At chaos 100 the starting noise gets a smooth per-image field of 0.3× its spread (then renormalised).
# White noise holds almost no energy at that scale, so this moves large-scale composition and colour
# a lot; 3×3 control points give blob-sized structure.
LATENT_CHAOS = 0.3
CHAOS_GRID = 3


def generators(seeds: Sequence[int]) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(s) for s in seeds]


def noise_latents(
    pipe: Any, gens: list[torch.Generator], height: int, width: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The noise `pipe.prepare_latents` would draw (before `init_noise_sigma`), consuming the generators."""
    from diffusers.utils.torch_utils import randn_tensor

    f = pipe.vae_scale_factor
    # The VAE's channels, not the UNet's input: an inpainting UNet takes mask and masked image too.
    shape = (len(gens), pipe.vae.config.latent_channels, height // f, width // f)
    if pipeline_family(pipe) == "flux":  # FluxPipeline.prepare_latents: even sizes, for 2×2 packing
        shape = (*shape[:2], 2 * (height // (f * 2)), 2 * (width // (f * 2)))
    return randn_tensor(shape, generator=gens, device=device, dtype=dtype)


def pack_latents(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """The latents as `pipe` samples them: FLUX's 2×2 patches as tokens; other families unchanged."""
    if pipeline_family(pipe) != "flux":
        return latents
    b, c, h, w = latents.shape
    return pipe._pack_latents(latents, b, c, h, w)


def chaos_latents(latents: torch.Tensor, seeds: Sequence[int], chaos: Sequence[int]) -> torch.Tensor:
    """Mix each image's noise with a smooth seeded field, by its job's chaos; chaos 0 rows are untouched.

    The mix keeps unit variance, so the scheduler sees noise of the expected scale.
    """
    out = latents.clone()
    _, c, h, w = latents.shape
    for k, (seed, level) in enumerate(zip(seeds, chaos, strict=True)):
        if level <= 0:
            continue
        a = LATENT_CHAOS * min(level, 100) / 100
        coarse = torch.randn((1, c, CHAOS_GRID, CHAOS_GRID), generator=chaos_generator(seed, 1))
        field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)[0]
        field = field / field.std().clamp_min(1e-6)
        mixed = (latents[k].float() + a * field.to(latents.device)) / (1 + a * a) ** 0.5
        out[k] = mixed.to(latents.dtype)
    return out


def source_image(img: Image.Image, width: int, height: int) -> Image.Image:
    """The source picture as RGB at exactly width×height (Lanczos)."""
    img = img.convert("RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.LANCZOS)
    return img


@torch.no_grad()
def encode_source(
    pipe: Any, image: Image.Image, gens: Sequence[torch.Generator], device: torch.device
) -> torch.Tensor:
    """Scaled init latents for len(gens) images of one source: one VAE encode, one sample per generator.

    Equivalent to what the img2img pipeline does per image (`vae.encode(image[i:i+1])` then
    `latent_dist.sample(generator[i])`), without encoding the same picture four times.
    """
    vae = pipe.vae
    pixels = pipe.image_processor.preprocess(image)
    upcast = (
        pipeline_family(pipe) == "sdxl"
        and vae.dtype == torch.float16
        and getattr(vae.config, "force_upcast", False)
    )
    dtype = vae.dtype
    if upcast:  # SDXL's VAE overflows in float16; the SDXL pipelines encode in float32 too
        vae.to(dtype=torch.float32)
    try:
        dist = vae.encode(pixels.to(device=device, dtype=vae.dtype)).latent_dist
        samples = torch.cat([dist.sample(generator=g) for g in gens])
    finally:
        if upcast:
            vae.to(dtype=dtype)
    samples = samples.to(dtype)
    mean = getattr(vae.config, "latents_mean", None)
    std = getattr(vae.config, "latents_std", None)
    if mean is not None and std is not None:
        m = torch.tensor(mean, device=samples.device, dtype=dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, device=samples.device, dtype=dtype).view(1, -1, 1, 1)
        return (samples - m) * vae.config.scaling_factor / s
    shift = getattr(vae.config, "shift_factor", None)  # SD3, FLUX: (latents - shift) * scaling
    if shift is not None:
        samples = samples - shift
    return samples * vae.config.scaling_factor


@contextmanager
def decode_per_job(vae: Any, sizes: Sequence[int]) -> Iterator[None]:
    """Inside the block, `vae.decode` of a whole multi-job batch decodes one job's images at a time.

    Each chunk is exactly what that job's own single run decodes, so batched jobs stay identical to
    single runs in the decoder too, and the decoder's activations stay the size of one job: on CPU a
    batch of 8 images decodes ~2× slower per image than 4 (cache), on GPU it is the usual OOM spot.
    A single job is left alone (the pipeline's own decode, as plain diffusers does it).
    """
    if len(sizes) <= 1:
        yield
        return
    from diffusers.models.autoencoders.vae import DecoderOutput

    original = vae.decode
    saved = vae.__dict__.get("decode")

    def decode(z: torch.Tensor, return_dict: bool = True, generator: Any = None) -> Any:
        if z.shape[0] != sum(sizes):
            return original(z, return_dict=return_dict, generator=generator)
        sample = torch.cat([original(chunk, return_dict=False)[0] for chunk in z.split(list(sizes))])
        return DecoderOutput(sample=sample) if return_dict else (sample,)

    vae.decode = decode
    try:
        yield
    finally:
        if saved is None:
            del vae.decode
        else:
            vae.decode = saved


@contextmanager
def encode_once(vae: Any) -> Iterator[None]:
    """Inside the block, `vae.encode` of the very picture it encoded last returns that call's result.

    The inpainting pipeline encodes its start picture once per image (`vae.encode(image[i:i+1])`, then
    `latent_dist.sample(generator[i])`), and the masked picture once more per image: a job's four
    images give eight encodes of two pictures. The encoder is deterministic, and each image still
    samples the shared distribution with its own generator, so the results are those of the plain
    pipeline; only the repeated encodes are skipped. Inputs are compared exactly (`torch.equal`).
    """
    original = vae.encode
    saved = vae.__dict__.get("encode")
    last: list[Any] = []  # [input, output] of the last real encode

    def encode(x: torch.Tensor, return_dict: bool = True) -> Any:
        if not (last and _same(last[0], x)):
            last[:] = [x.detach().clone(), original(x, return_dict=True)]
        out = last[1]
        return out if return_dict else (out.latent_dist,)

    vae.encode = encode
    try:
        yield
    finally:
        if saved is None:
            del vae.encode
        else:
            vae.encode = saved


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)
