"""Cheap progress previews: latents → RGB by a fixed linear map, no VAE decode.

A VAE decode costs as much as several denoising steps; a 4→3 linear projection of the latents (known
approximations of the SD 1.x and SDXL latent spaces) costs nothing and shows composition and colours,
which is all a progress preview needs. Previews are small JPEGs (~256 px) so they travel cheaply through
the database to Discord.
"""

from __future__ import annotations

import io

import torch
from PIL import Image

# Rows: latent channels 1-4; columns: R, G, B. SD 1.x (also SD 2.x: same VAE latent space).
SD15_LATENT_RGB = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)
SD15_BIAS = (0.0, 0.0, 0.0)
SDXL_LATENT_RGB = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_BIAS = (0.1084, -0.0175, -0.0011)

PREVIEW_SIZE = 256
PREVIEW_QUALITY = 70


def latents_to_image(latents: torch.Tensor, *, sdxl: bool = False, size: int = PREVIEW_SIZE) -> Image.Image:
    """One image's latents (4, h, w) → an RGB PIL image whose longer side is `size` pixels."""
    factors = torch.tensor(SDXL_LATENT_RGB if sdxl else SD15_LATENT_RGB, dtype=torch.float32)
    bias = torch.tensor(SDXL_BIAS if sdxl else SD15_BIAS, dtype=torch.float32)
    lat = latents.detach().to("cpu", torch.float32)[:4]
    rgb = torch.einsum("chw,cr->hwr", lat, factors) + bias
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    img = Image.fromarray(pixels, "RGB")
    h, w = pixels.shape[:2]
    scale = size / max(h, w)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)


def preview_jpeg(latents: torch.Tensor, *, sdxl: bool = False, size: int = PREVIEW_SIZE) -> bytes:
    """A small JPEG preview of one image's latents."""
    buf = io.BytesIO()
    latents_to_image(latents, sdxl=sdxl, size=size).save(buf, format="JPEG", quality=PREVIEW_QUALITY)
    return buf.getvalue()
