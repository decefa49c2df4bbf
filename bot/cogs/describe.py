"""/describe: four numbered prompts for an attached image (gen.captioner, through `bot.describer`), with
buttons `1`–`4` that imagine that prompt for whoever presses them.

The answer is public, like /imagine's. The buttons are `DynamicItem`s whose custom id carries only the
number (`ib:describe:<n>`); the prompt is read back from the message they are on, so they keep working
after a restart. Without a captioner, or for an image that is refused, one ephemeral message.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.cogs.imagine import imagine_prompt
from bot.image_prompts import read_image_option
from bot.replies import reply_ephemeral
from imaginebot.core.image_inputs import CaptionerError, InputImageError

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

DESCRIBE_TEMPLATE = r"ib:describe:(?P<n>[1-4])"
HEADER = "🔎 Four prompts for this image — press a number to imagine it:"
NO_CAPTIONER = "/describe is not available here: no captioner is configured (gen.captioner)."


def describe_text(prompts: list[str]) -> str:
    return "\n".join([HEADER, *(f"**{n}.** {p}" for n, p in enumerate(prompts, start=1))])


def prompt_of(content: str, n: int) -> str | None:
    """Prompt `n` of a /describe answer (None when the message is not one, or lacks it)."""
    found = re.search(rf"^\*\*{n}\.\*\* (.+)$", content, re.MULTILINE)
    return found.group(1).strip() if found and content.startswith(HEADER) else None


class DescribeButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=DESCRIBE_TEMPLATE):
    def __init__(self, n: int) -> None:
        self.n = n
        super().__init__(
            discord.ui.Button(label=str(n), style=discord.ButtonStyle.secondary, custom_id=f"ib:describe:{n}")
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DescribeButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ImagineBot = interaction.client  # type: ignore[assignment]
        prompt = prompt_of(interaction.message.content if interaction.message else "", self.n)
        if prompt is None:
            await reply_ephemeral(interaction, messages.unknown_button())
            return
        await imagine_prompt(bot, interaction, prompt)


def describe_view() -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for n in range(1, 5):
        view.add_item(DescribeButton(n))
    return view


class Describe(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="describe", description="Four prompts for an image, to imagine from")
    @app_commands.describe(image="The image to describe (PNG, JPEG, WebP or GIF)")
    async def describe(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        describer = self.bot.describer
        if describer is None:
            await reply_ephemeral(interaction, messages.refused(NO_CAPTIONER))
            return
        try:
            picture = await read_image_option(image, "image")
        except InputImageError as err:
            await reply_ephemeral(interaction, messages.refused(str(err)))
            return
        await interaction.response.defer(thinking=True)  # public: the prompts are for everyone
        try:
            prompts = await describer(picture.png)
        except CaptionerError as err:
            await self._fail(interaction, str(err))
            return
        except Exception:
            log.exception("describe failed for user %s", interaction.user.id)
            await self._fail(interaction, messages.internal_error())
            return
        await interaction.edit_original_response(content=describe_text(prompts), view=describe_view())

    @staticmethod
    async def _fail(interaction: discord.Interaction, text: str) -> None:
        """The public placeholder goes; the user alone hears why."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            pass
        await interaction.followup.send(
            text if text.startswith("⚠️") else messages.refused(text), ephemeral=True
        )


async def setup(bot: ImagineBot) -> None:
    bot.add_dynamic_items(DescribeButton)
    await bot.add_cog(Describe(bot))
