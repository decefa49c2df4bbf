"""A local stand-in for Discord's REST API v10 and gateway v10 that real discord.py bots connect to.

It enforces Discord's rules (interaction deadlines, token lifetimes, message limits, request schemas from
Discord's OpenAPI spec) and records every request and rule violation so tests can assert on them.

Point discord.py at it before ``login``::

    discord.http.Route.BASE = standin.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)

(``pointed_at(standin)`` does this and restores the previous values afterwards.)  Typical use::

    async with DiscordStandIn() as standin:
        with pointed_at(standin):
            runner = asyncio.create_task(bot.start(standin.token))
            await standin.wait_ready()
            alice = standin.add_member("alice")
            ix = await standin.slash(alice, "imagine", {"prompt": "a fox"})
            await ix.wait_ack()
            grid = await standin.wait_for_message(lambda m: m["attachments"])
            await standin.press(alice, grid, label="U1")
            assert standin.violations == []
            await bot.close()  # before the stand-in stops, or discord.py keeps reconnecting

Several guilds: ``standin.add_guild("Beta")`` (before the bot connects it is in READY, after it gets
GUILD_CREATE) returns ``{"id", "channel_id", ...}``; members and their rights are per guild
(``add_member(name, guild_id=...)``, ``join(user, guild_id, manage_guild=True)``), and ``slash``/``press``/
``autocomplete`` act in a guild (``guild_id=``/``channel_id=``) or the user's DM (``dm=True``).
``deny_bot(channel_id, 50001 | 50013)`` shuts the bot's token out of a channel's messages (403, recorded
in ``standin.refused`` with DM refusals, 50007, from ``block_dms``); interactions there still work.

Rules are enforced the way Discord answers (status + JSON error code); each broken rule is also
recorded in ``standin.violations`` (``kind``: schema, limit, late_callback, double_ack, expired_token,
not_acknowledged, unknown_route, auth, attachment_size, ...).
"""

from __future__ import annotations

from .discordpy import pointed_at
from .interactions import Callback, InteractionHandle
from .models import RecordedRequest, Refusal, UploadedFile, Violation
from .rest import Injection
from .standin import DiscordStandIn

__all__ = [
    "Callback",
    "DiscordStandIn",
    "Injection",
    "InteractionHandle",
    "RecordedRequest",
    "Refusal",
    "UploadedFile",
    "Violation",
    "pointed_at",
]
