"""The Discord client: thin. It points discord.py at the configured endpoints, loads the cogs, registers the
persistent buttons and syncs the slash commands. Shared resources (the queue) are opened by the caller."""

from __future__ import annotations

import logging

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import messages

from imaginebot.config import Settings
from imaginebot.prompt import ParserLimits

log = logging.getLogger(__name__)

COGS = ("bot.cogs.imagine", "bot.cogs.buttons", "bot.cogs.info", "bot.cogs.admin", "bot.delivery")


def point_discord_at(settings: Settings) -> None:
    """discord.py has no constructor option for its endpoints: its REST base is `Route.BASE` (interaction
    webhooks use the same Route) and the gateway is `DiscordWebSocket.DEFAULT_GATEWAY`. Set both before login."""
    discord.http.Route.BASE = settings.discord.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


class ImagineBot(commands.Bot):
    def __init__(self, settings: Settings, queue: object, *, model: str | None = None) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels and permissions; no privileged intents are needed
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None)
        self.settings = settings
        self.queue = queue
        self.model = model or settings.gen.model
        self.limits = ParserLimits.from_settings(settings)
        self.synced = False

    async def setup_hook(self) -> None:
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
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
        self.synced = True
        log.info("slash commands synced to %s", guild_ids or "all guilds (global)")

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        from bot.cogs.admin import NotAdmin
        from bot.submit import reply_ephemeral

        if isinstance(error, NotAdmin):
            await reply_ephemeral(interaction, messages.not_admin())
            return
        log.error("command %s failed", getattr(interaction.command, "qualified_name", "?"), exc_info=error)
        await reply_ephemeral(interaction, messages.internal_error())

    async def on_ready(self) -> None:
        log.info("connected as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))
