"""Objects spelled out in INTERFACE.md, shared by the tests that check them."""

from __future__ import annotations

from typing import Any

# The JOB object of `imaginebot parse "a red fox in snow --ar 3:2 --seed 42"`.
INTERFACE_JOB: dict[str, Any] = {
    "prompt": "a red fox in snow",
    "negative_prompt": "",
    "weights": [{"text": "a red fox in snow", "weight": 1.0}],
    "aspect_ratio": "3:2",
    "width": 624,
    "height": 416,
    "seed": 42,
    "chaos": 0,
    "stylize": 100,
    "quality": 1.0,
    "stop": 100,
    "tile": False,
    "steps": 30,
    "guidance_scale": 7.0,
    "model": "tiny",
    "loras": [],
    "draft": False,
    "weird": 0,
    "image_urls": [],
    "iw": 1.0,
    "sref": [],
    "sw": 100,
    "cn": "",  # --cn: the ControlNet kind; its image is the control map
    "cw": 1.0,  # --cw with --cn: the ControlNet weight
    "mode": "fast",  # --fast, --relax, --turbo, else the caller's default
    "notes": [],  # one line on each parameter read but honoured differently or not at all
}
