"""Logging set-up: one line per event; the token never appears (it is never passed to a logger)."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("discord").setLevel(max(logging.getLevelName(level), logging.INFO))
