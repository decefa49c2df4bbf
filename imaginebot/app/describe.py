"""`/describe` and `imaginebot describe FILE`: four prompts for a picture from `gen.captioner`.

This first version runs the captioner where it is asked for: in the bot's process, loaded on first use
and run off the event loop (one picture at a time), and in the CLI's process. (A worker job kind would
move it to the GPU hosts; the small captioners this targets run well enough on a CPU.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from imaginebot.core.config import GenSettings, load_settings
from imaginebot.core.image_inputs import CaptionerError, InputImageError, check_size, load_input_image

Describer = Callable[[bytes], Awaitable[list[str]]]
NO_CAPTIONER = "no captioner is configured (gen.captioner): /describe and describe are off"


def _load(gen: GenSettings) -> Any:
    from gen.captioner import Captioner
    from gen.loader import resolve_device

    return Captioner(gen.captioner, device=resolve_device(gen.device))


class LazyDescriber:
    """The configured captioner, loaded on first use; `await describer(png)` → four prompts."""

    def __init__(self, gen: GenSettings) -> None:
        self._gen = gen
        self._captioner: Any = None
        self._lock = threading.Lock()

    def describe(self, png: bytes) -> list[str]:
        from gen.loader import ModelLoadError

        with self._lock:
            try:
                if self._captioner is None:
                    self._captioner = _load(self._gen)
                return list(self._captioner.describe(png))
            except ModelLoadError as exc:
                raise CaptionerError(str(exc)) from None

    async def __call__(self, png: bytes) -> list[str]:
        return await asyncio.to_thread(self.describe, png)


def describer_for(gen: GenSettings) -> Describer | None:
    """The describer of `gen.captioner`, or None when none is configured."""
    return LazyDescriber(gen) if gen.captioner.strip() else None


def run_describe(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if not settings.gen.captioner.strip():
        print(f"imaginebot: {NO_CAPTIONER}", file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        check_size(path.stat().st_size, args.file)
        image = load_input_image(path.read_bytes(), label=args.file)
    except OSError as exc:
        print(f"imaginebot: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except InputImageError as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2
    try:
        prompts = LazyDescriber(settings.gen).describe(image.png)
    except CaptionerError as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"prompts": prompts}, ensure_ascii=False))
    return 0
