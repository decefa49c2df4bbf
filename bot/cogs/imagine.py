"""/imagine: parse the prompt (with the user's /settings), read its image prompts, enqueue with quota,
answer at once. `imagine_prompt` is also what /describe's number buttons run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.image_prompts import (
    check_control,
    control_inputs,
    gate_released,
    gather_images,
    style_reference_urls,
)
from bot.moderation import check_expanded, check_prompt
from bot.submit import delivery_for, submit
from db.records import JobRecord
from imaginebot.core.prompt import PromptError, parse_prompt
from imaginebot.core.prompt_compat import attached_images

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

Attached = Sequence[tuple[str, discord.Attachment | None]]


async def imagine_prompt(
    bot: ImagineBot, interaction: discord.Interaction, prompt: str, attached: Attached = ()
) -> list[JobRecord]:
    """Queue `prompt` for the interaction's user, exactly as /imagine does (`attached`: its image options)."""
    user_id = interaction.user.id

    async def make_jobs() -> list[JobRecord]:
        # The user's defaults are read first: they decide what the prompt means (PromptError → ephemeral).
        defaults = await bot.queue.admission.get_settings(user_id)
        try:
            specs = parse_prompt(prompt, bot.limits, defaults)
        except PromptError:
            await check_prompt(bot, interaction, prompt)  # a banned word is refused first, with its strike
            raise
        # A banned word, typed or from the /prefer suffix and options: refused, a strike, no charge.
        await check_expanded(bot, interaction, prompt, specs)
        given = bool(specs[0].image_urls) or any(a is not None for _, a in attached)
        gen = bot.settings.gen
        cn = specs[0].cn
        if cn:  # its one image is the control map
            count = len(specs[0].image_urls) + sum(a is not None for _, a in attached)
            check_control(cn, count, bool(specs[0].sref), gen.controlnets)
        refs = style_reference_urls(specs[0].sref, given, gen.ip_adapter) if not cn else []
        urls = refs or specs[0].image_urls
        if urls or given:
            async with gate_released(bot.db_gate):  # no database slot held while fetching
                inputs = await gather_images(attached, urls, gen.image_hosts)
        else:
            inputs = []
        if cn:
            inputs = await control_inputs(cn, inputs)
        if any(a is not None for _, a in attached):  # --iw weighs the attachments
            specs = [replace(s, notes=attached_images(s.notes)) for s in specs]
        return await bot.queue.admission.enqueue(
            user_id, specs, model=bot.model,
            delivery=await delivery_for(interaction, defaults.private),  # private: by DM
            inputs=inputs,
        )

    return await submit(bot, interaction, make_jobs)


class Imagine(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Create four images from a text prompt")
    @app_commands.describe(
        prompt="What to imagine, then parameters like --ar 3:2 --seed 42 --no text",
        image="An image prompt: the images follow it (weight: --iw 0-3)",
        image2="A second image prompt",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
    ) -> None:
        await imagine_prompt(self.bot, interaction, prompt, [("image", image), ("image2", image2)])


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Imagine(bot))
