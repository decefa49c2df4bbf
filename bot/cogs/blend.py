"""/blend: 2 to 5 attached images mixed into a 2×2 grid at square, portrait or landscape dimensions.

A blend is an /imagine whose image prompts are the attachments (bot.cogs.imagine.imagine_prompt): the same
checks, quota and queue; through IP-Adapter when `gen.ip_adapter` is set, else img2img from their mix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.cogs.imagine import imagine_prompt
from bot.replies import reply_ephemeral
from imaginebot.core.image_inputs import BLEND_DIMENSIONS, InputImageError, blend_prompt

if TYPE_CHECKING:
    from bot.client import ImagineBot


class Blend(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="blend", description="Blend 2 to 5 images into four new ones")
    @app_commands.describe(
        image1="The first image", image2="The second image", image3="A third image", image4="A fourth image",
        image5="A fifth image", dimensions="The shape of the result (default: square)",
    )
    @app_commands.choices(dimensions=[app_commands.Choice(name=d, value=d) for d in BLEND_DIMENSIONS])
    async def blend(
        self,
        interaction: discord.Interaction,
        image1: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        dimensions: str = "square",
    ) -> None:
        images = [image1, image2, image3, image4, image5]
        attached = [(f"image{k}", a) for k, a in enumerate(images, start=1) if a is not None]
        try:
            prompt = blend_prompt(len(attached), dimensions)
        except InputImageError as err:
            await reply_ephemeral(interaction, messages.refused(f"{err}; nothing was charged"))
            return
        await imagine_prompt(self.bot, interaction, prompt, attached)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Blend(bot))
