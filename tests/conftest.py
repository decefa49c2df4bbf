"""Shared fixtures. Each area keeps its fixtures in its own module; this file only gathers them."""

from fixtures_bot import *  # noqa: F403
from fixtures_db import *  # noqa: F403
from fixtures_model import *  # noqa: F403
