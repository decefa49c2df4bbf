"""/imagine: parse the prompt (with the user's /settings), enqueue with quota, answer at once."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.submit import reply_ephemeral, submit
from imaginebot.prompt import PromptError, parse_prompt

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)


class Imagine(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Create four images from a text prompt")
    @app_commands.describe(prompt="What to imagine, then parameters like --ar 3:2 --seed 42 --no text")
    async def imagine(self, interaction: discord.Interaction, prompt: str) -> None:
        try:
            defaults = await self.bot.queue.get_user_settings(interaction.user.id)
            specs = parse_prompt(prompt, self.bot.limits, defaults)
        except PromptError as err:
            await reply_ephemeral(interaction, messages.prompt_error(str(err)))
            return
        except Exception:
            log.exception("/imagine failed before enqueue for user %s", interaction.user.id)
            await reply_ephemeral(interaction, messages.internal_error())
            return
        await submit(self.bot, interaction, specs)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Imagine(bot))
