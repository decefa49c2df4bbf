"""Pointing discord.py at a stand-in (and back)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import discord.gateway
import discord.http
import yarl

if TYPE_CHECKING:
    from .standin import DiscordStandIn


@contextmanager
def pointed_at(standin: DiscordStandIn) -> Iterator[None]:
    """Route discord.py's REST and gateway traffic to ``standin`` for the duration of the block."""
    previous_base = discord.http.Route.BASE
    previous_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = standin.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = previous_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous_gateway
