"""The Discord client: thin. It points discord.py at the configured endpoints, loads the cogs (the
persistent buttons among them) and syncs the slash commands. Shared resources (the queue) are opened by
the caller and handed in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.replies import reply_ephemeral
from imaginebot.core.config import Settings
from imaginebot.core.prompt import ParserLimits

if TYPE_CHECKING:
    from db.queue import Queue

log = logging.getLogger(__name__)

COGS = ("bot.cogs.imagine", "bot.cogs.buttons", "bot.cogs.info", "bot.cogs.admin", "bot.cogs.moderation",
        "bot.cogs.cancel", "bot.cogs.show", "bot.cogs.prefer", "bot.cogs.modes", "bot.cogs.describe",
        "bot.cogs.blend", "bot.delivery", "bot.retention")
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's per-file limit for an unboosted guild
DB_GATE = 4


def point_discord_at(settings: Settings) -> None:
    """discord.py has no constructor option for its endpoints: its REST base is `Route.BASE` (interaction
    webhooks use the same Route) and the gateway is `DiscordWebSocket.DEFAULT_GATEWAY`. Set both before
    login."""
    discord.http.Route.BASE = settings.discord.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


def _without_nul(options: Any) -> None:
    """Replace U+0000 in string option values (recursively, subcommands too) with U+FFFD: PostgreSQL
    cannot store it, and no person means it."""
    for option in options or ():
        if isinstance(option.get("value"), str):
            option["value"] = option["value"].replace("\x00", "\ufffd")
        _without_nul(option.get("options"))


async def _clean_options(interaction: discord.Interaction) -> bool:
    """The command tree's check, before the options are read: it only cleans them."""
    if isinstance(interaction.data, dict):
        _without_nul(interaction.data.get("options"))
    return True


class NotAdmin(app_commands.CheckFailure):
    """Raised by the /admin check; the tree's error handler answers with an ephemeral refusal."""


class ImagineBot(commands.Bot):
    def __init__(self, settings: Settings, queue: Queue, **options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, roles and permissions; no privileged intent is needed
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, help_command=None,
            allowed_mentions=discord.AllowedMentions.none(), **options,  # job messages: owner_only()
        )
        self.settings = settings
        self.queue = queue
        self.model = settings.gen.model
        self.limits = ParserLimits.from_settings(settings)
        for problem in self.limits.catalogue.problems:  # a broken file is skipped, never fatal
            log.warning("model catalogue: %s", problem)
        # The per-file upload limit Discord last told us for each guild (it comes with every interaction).
        self.upload_limits: dict[int, int] = {}
        self.announcing: set[str] = set()  # jobs whose progress message is being posted (see bot.submit)
        # At most this many interactions use the database at once: SQLite admits one writer anyway, and
        # a crowd of driver threads fighting over the GIL slows the event loop, and so every answer.
        self.db_gate = asyncio.Semaphore(DB_GATE)
        self.submitting = 0  # interactions between arrival and their progress message (see bot.submit)
        # /describe: picture PNG → four prompts (imaginebot.app.describe), or None without gen.captioner.
        self.describer: Callable[[bytes], Awaitable[list[str]]] | None = None

    async def setup_hook(self) -> None:
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        self.tree.interaction_check = _clean_options  # type: ignore[method-assign]
        for cog in COGS:
            await self.load_extension(cog)
        guild_ids = self.settings.discord.guild_ids
        if guild_ids:
            for gid in guild_ids:
                guild = discord.Object(id=gid)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()
        log.info("slash commands synced to %s", guild_ids or "all guilds (global)")

    def note_interaction(self, interaction: discord.Interaction) -> None:
        """Remember what an interaction tells about its guild (the upload limit), for later deliveries."""
        if interaction.guild_id is not None and interaction.filesize_limit:
            self.upload_limits[interaction.guild_id] = interaction.filesize_limit

    def upload_limit(self, guild_id: int | None) -> int:
        if guild_id is None:
            return DEFAULT_UPLOAD_LIMIT
        if guild_id in self.upload_limits:
            return self.upload_limits[guild_id]
        guild = self.get_guild(guild_id)
        return guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, NotAdmin):
            await reply_ephemeral(interaction, messages.not_admin())
            return
        name = getattr(interaction.command, "qualified_name", "?")
        log.error("command /%s failed for user %s", name, interaction.user.id, exc_info=error)
        await reply_ephemeral(interaction, messages.internal_error())

    async def on_ready(self) -> None:
        user_id = getattr(self.user, "id", "?")
        log.info("connected as %s (%s) in %d guild(s)", self.user, user_id, len(self.guilds))
