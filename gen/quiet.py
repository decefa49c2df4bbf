"""Keep a bot's logs free of tqdm bars and irrelevant library warnings."""

from __future__ import annotations

import logging


def quiet_progress_bars() -> None:
    """No tqdm bars or irrelevant warnings in a bot's logs: loading and generation report through our
    own progress instead."""
    # Loading a pipeline touches transformers' image-processor classes, which warn (three lines on
    # stderr) that torchvision is absent; no pipeline here uses an image processor.
    logging.getLogger("transformers.utils.import_utils").setLevel(logging.ERROR)
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover - very old huggingface_hub
        pass
