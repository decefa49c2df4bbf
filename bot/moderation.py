"""Moderation at the door: a member in a timeout submits nothing, and a prompt with a banned word is
refused (naming the word), charged nothing, and counted as a strike (db.moderation says what strikes lead
to). Both raise `Refusal`, which bot.submit shows to the member ephemerally.

The words come from `moderation.banned_words` (config) and the operators' run-time list, which apply
everywhere, then the guild's own list; the first list that matches decides the strike's scope.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import discord

from bot import moderation_messages as mm
from bot.replies import Refusal
from imaginebot.core.domain import JobSpec
from imaginebot.core.moderation import find_banned

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)


async def check_timeout(bot: ImagineBot, interaction: discord.Interaction) -> None:
    """Refusal while the member is in a timeout that applies where they are."""
    timeout = await bot.queue.moderation.timeout(interaction.user.id, interaction.guild_id)
    if timeout is not None:
        raise Refusal(mm.timed_out(timeout))


async def check_expanded(
    bot: ImagineBot, interaction: discord.Interaction, typed: str, specs: Iterable[JobSpec]
) -> None:
    """`check_prompt` on the prompt as typed and as parsed, in one look at the word lists: the parsed
    prompts hold the caller's /prefer suffix and options (a word banned after they were set is caught)."""
    texts = dict.fromkeys([typed, *(f"{spec.prompt} {spec.negative_prompt}" for spec in specs)])
    await check_prompt(bot, interaction, "\n".join(texts))


async def check_prompt(bot: ImagineBot, interaction: discord.Interaction, text: str) -> None:
    """Refusal (and a strike) when `text` contains a banned word; nothing happens otherwise."""
    rules = bot.settings.moderation
    everywhere, guild_words = await bot.queue.moderation.words(interaction.guild_id)
    scope: int | None = None
    word = find_banned(text, [*rules.banned_words, *everywhere])
    if word is None and guild_words:
        word, scope = find_banned(text, guild_words), interaction.guild_id
    if word is None:
        return
    user_id = interaction.user.id
    outcome = await bot.queue.moderation.strike(user_id, word, guild_id=scope, rules=rules)
    log.info(
        "refused a prompt of user %s (banned word %r, strike %d%s)",
        user_id,
        word,
        outcome.strikes,
        ", banned" if outcome.banned else ", timeout" if outcome.timeout_until else "",
    )
    raise Refusal(mm.prompt_refused(word, outcome, rules))
