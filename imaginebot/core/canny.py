"""Canny edge maps for `--cn canny`, made on the bot host with numpy and Pillow only (no OpenCV, no torch).

The steps are the classic ones (and what ControlNet's canny preprocessor does through OpenCV):

1. grayscale (Pillow's ITU-R 601 luma), then a 5×5 Gaussian blur (σ = 1.4) against noise;
2. Sobel gradients (3×3), magnitude √(gx² + gy²), on OpenCV's scale (unnormalised kernels), so the usual
   thresholds 100/200 work as there; after the blur a hard black/white step peaks at ~550, a step of
   60 grey levels at ~130. (OpenCV itself neither blurs nor uses the L2 norm by default: maps are
   close to, not pixel-identical with, `cv2.Canny`.)
3. non-maximum suppression: a pixel stays only if it is the largest along its gradient direction
   (quantised to 0°, 45°, 90°, 135°), which thins edges to one pixel;
4. double threshold and hysteresis: pixels ≥ `high` are edges; pixels ≥ `low` are edges only when
   connected (8-neighbourhood) to one, found by a breadth-first flood fill over the weak pixels.

Image borders are padded by repeating the outermost pixels, so the frame itself is never an edge.
The result is RGB, white (255) edges on black, the size of the input.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

DEFAULT_LOW = 100
DEFAULT_HIGH = 200
BLUR_SIGMA = 1.4
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def _as_image(source: bytes | Image.Image) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    img = Image.open(io.BytesIO(source))
    img.load()
    return img


def _separable(a: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Correlate `a` with the outer product ky ⊗ kx (odd lengths), edges replicated."""
    rx, ry = len(kx) // 2, len(ky) // 2
    p = np.pad(a, ((0, 0), (rx, rx)), mode="edge")
    w = a.shape[1]
    tmp = sum(float(k) * p[:, i : i + w] for i, k in enumerate(kx))
    p = np.pad(np.asarray(tmp, dtype=np.float32), ((ry, ry), (0, 0)), mode="edge")
    h = a.shape[0]
    return np.asarray(sum(float(k) * p[i : i + h, :] for i, k in enumerate(ky)), dtype=np.float32)


def _gaussian(sigma: float) -> np.ndarray:
    x = np.arange(-2, 3, dtype=np.float64)
    k = np.exp(-(x**2) / (2 * sigma**2))
    return (k / k.sum()).astype(np.float32)


def gradients(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel gx, gy of a float image (rows = y), borders replicated."""
    smooth = np.array([1.0, 2.0, 1.0], dtype=np.float32)
    diff = np.array([-1.0, 0.0, 1.0], dtype=np.float32)
    return _separable(gray, diff, smooth), _separable(gray, smooth, diff)


def _thin(mag: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: `mag` where it is a local maximum across the edge, else 0."""
    h, w = mag.shape
    p = np.pad(mag, 1, mode="constant")

    def at(dy: int, dx: int) -> np.ndarray:
        return p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    angle = (np.degrees(np.arctan2(gy, gx)) + 180.0) % 180.0
    sector = (((angle + 22.5) // 45).astype(np.int8)) % 4  # 0: 0°, 1: 45°, 2: 90°, 3: 135°
    # Neighbour pairs along the gradient (x to the right, y downwards).
    pairs = {0: ((0, 1), (0, -1)), 1: ((1, 1), (-1, -1)), 2: ((1, 0), (-1, 0)), 3: ((1, -1), (-1, 1))}
    keep = np.zeros_like(mag, dtype=bool)
    for s, (fwd, back) in pairs.items():
        # Strictly larger than one side, at least as large as the other: a plateau two pixels wide
        # (a step edge between two pixels) keeps one of them.
        local = (mag > at(*fwd)) & (mag >= at(*back))
        keep |= (sector == s) & local
    return np.where(keep, mag, 0.0).astype(np.float32)


def hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """Strong pixels plus every weak pixel 8-connected to one through weak pixels (a flood fill)."""
    h, w = strong.shape
    edges = strong.copy()
    candidates = weak & ~strong
    ys, xs = np.nonzero(strong)
    while ys.size and candidates.any():
        found_y: list[np.ndarray] = []
        found_x: list[np.ndarray] = []
        for dy, dx in _NEIGHBOURS:
            ny, nx = ys + dy, xs + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            ny, nx = ny[inside], nx[inside]
            hit = candidates[ny, nx]
            ny, nx = ny[hit], nx[hit]
            candidates[ny, nx] = False
            edges[ny, nx] = True
            found_y.append(ny)
            found_x.append(nx)
        ys, xs = np.concatenate(found_y), np.concatenate(found_x)
    return edges


def canny_edges(gray: np.ndarray, low: float = DEFAULT_LOW, high: float = DEFAULT_HIGH) -> np.ndarray:
    """Boolean edge mask of a 2-D grayscale array (0–255)."""
    if low < 0 or high < low:
        raise ValueError(f"canny thresholds need 0 <= low <= high, got low={low}, high={high}")
    g = _gaussian(BLUR_SIGMA)
    blurred = _separable(np.asarray(gray, dtype=np.float32), g, g)
    gx, gy = gradients(blurred)
    thin = _thin(np.hypot(gx, gy), gx, gy)
    return hysteresis(thin >= high, thin >= low)


def canny_map(
    source: bytes | Image.Image, low: float = DEFAULT_LOW, high: float = DEFAULT_HIGH
) -> Image.Image:
    """The canny edge map of a picture (PNG/JPEG/… bytes or a PIL image): RGB, white edges on black.

    `low`/`high` are the hysteresis thresholds on the Sobel gradient magnitude (OpenCV's scale).
    """
    img = _as_image(source)
    if img.mode in ("RGBA", "LA", "P"):  # transparent areas count as black, as when pasted on black
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(base, rgba)
    gray = np.asarray(img.convert("L"), dtype=np.float32)
    edges = canny_edges(gray, low, high)
    out = np.where(edges, 255, 0).astype(np.uint8)
    return Image.fromarray(out).convert("RGB")
