"""Cheap progress previews: latents → RGB by a fixed linear map, no VAE decode.

A VAE decode costs as much as several denoising steps; a 4→3 (SD 1.x, SDXL) or 16→3 (SD3, FLUX) linear
projection of the latents (known approximations of each latent space, as ComfyUI's latent previews use
them) costs nothing and shows composition and colours,
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
SD3_LATENT_RGB = (
    (-0.0922, -0.0175, 0.0749),
    (0.0311, 0.0633, 0.0954),
    (0.1994, 0.0927, 0.0458),
    (0.0856, 0.0339, 0.0902),
    (0.0587, 0.0272, -0.0496),
    (-0.0006, 0.1104, 0.0309),
    (0.0978, 0.0306, 0.0427),
    (-0.0042, 0.1038, 0.1358),
    (-0.0194, 0.0020, 0.0669),
    (-0.0488, 0.0130, -0.0268),
    (0.0922, 0.0988, 0.0951),
    (-0.0278, 0.0524, -0.0542),
    (0.0332, 0.0456, 0.0895),
    (-0.0069, -0.0030, -0.0810),
    (-0.0596, -0.0465, -0.0293),
    (-0.1448, -0.1463, -0.1189),
)
SD3_BIAS = (0.2394, 0.2135, 0.1925)
FLUX_LATENT_RGB = (
    (-0.0346, 0.0244, 0.0681),
    (0.0034, 0.0210, 0.0687),
    (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329),
    (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915),
    (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421),
    (-0.0515, 0.0201, 0.0011),
    (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749),
    (-0.1264, -0.0522, -0.1103),
    (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_BIAS = (-0.0329, -0.0718, -0.0851)
# Pipeline family (gen.family) → (factors, bias).
LATENT_RGB: dict[str, tuple[tuple[tuple[float, float, float], ...], tuple[float, float, float]]] = {
    "sd": (SD15_LATENT_RGB, SD15_BIAS),
    "sdxl": (SDXL_LATENT_RGB, SDXL_BIAS),
    "sd3": (SD3_LATENT_RGB, SD3_BIAS),
    "flux": (FLUX_LATENT_RGB, FLUX_BIAS),
}

PREVIEW_SIZE = 256
PREVIEW_QUALITY = 70


def latents_to_image(
    latents: torch.Tensor, *, sdxl: bool = False, family: str | None = None, size: int = PREVIEW_SIZE
) -> Image.Image:
    """One image's latents (channels, h, w) → an RGB PIL image whose longer side is `size` pixels.

    `family` (gen.family: sd, sdxl, sd3, flux) picks the projection; without it `sdxl` does."""
    rows, offsets = LATENT_RGB[family or ("sdxl" if sdxl else "sd")]
    factors = torch.tensor(rows, dtype=torch.float32)
    bias = torch.tensor(offsets, dtype=torch.float32)
    lat = latents.detach().to("cpu", torch.float32)[: len(rows)]
    rgb = torch.einsum("chw,cr->hwr", lat, factors) + bias
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    img = Image.fromarray(pixels, "RGB")
    h, w = pixels.shape[:2]
    scale = size / max(h, w)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)


def preview_jpeg(
    latents: torch.Tensor, *, sdxl: bool = False, family: str | None = None, size: int = PREVIEW_SIZE
) -> bytes:
    """A small JPEG preview of one image's latents."""
    buf = io.BytesIO()
    image = latents_to_image(latents, sdxl=sdxl, family=family, size=size)
    image.save(buf, format="JPEG", quality=PREVIEW_QUALITY)
    return buf.getvalue()
