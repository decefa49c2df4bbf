"""The one logging set-up of every long-running command (`run`, `worker`): one line per event on stderr.

The token never appears: it is never passed to a logger. Alembic's INFO lines are per-plugin noise, and
discord.py's DEBUG lines are every gateway frame, so both are held at a coarser level.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format=FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("discord").setLevel(max(logging.getLevelName(level), logging.INFO))
