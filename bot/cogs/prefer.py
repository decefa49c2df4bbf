"""/prefer: the caller's prompt preferences, as Midjourney's.

- `/prefer suffix [text]`: text appended to every prompt of the caller; without text, cleared.
- `/prefer option set NAME [value]`: `--NAME` in a prompt stands for the value (e.g. `--wide` →
  `--ar 21:9 --s 250`); without a value the option is deleted (Midjourney's way), as by
  `/prefer option delete NAME`. `/prefer option list` shows them.

Every answer is ephemeral. A change is checked first (imaginebot.core.preferences: the name must not hide
a parameter, options must not loop, the value must parse; a banned word in it is refused like one in a
prompt) and saved only when it passes; a refusal changes nothing. How the preferences apply to
prompts: imaginebot.core.prompt_prefer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, prefer_messages
from bot.moderation import check_prompt
from bot.replies import Refusal, answer_privately
from imaginebot.core.domain import UserDefaults
from imaginebot.core.preferences import PreferenceError, delete_option, option_name, set_option, set_suffix

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
Change = Callable[[UserDefaults], tuple[UserDefaults, str]]  # current → (updated, the answer)


class OptionGroup(app_commands.Group):
    def __init__(self, cog: Prefer) -> None:
        super().__init__(name="option", description="Custom options: --NAME stands for parameters you choose")
        self.cog = cog

    @app_commands.command(name="set", description="Make --NAME stand for a value; without a value, delete it")
    @app_commands.describe(name="the option's name, like wide for --wide",
                           value="what --NAME stands for, like --ar 21:9 --s 250; leave out to delete")
    async def set_(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100],
                   value: str | None = None) -> None:
        bot = self.cog.bot
        if value is None or not value.strip():
            await self.cog.change(interaction, lambda current: _delete(current, name))
            return

        def change(current: UserDefaults) -> tuple[UserDefaults, str]:
            updated = set_option(current, name, value, bot.limits)
            stored = option_name(name)
            return updated, prefer_messages.option_saved(stored, (updated.options or {})[stored])

        await self.cog.change(interaction, change, value)

    @app_commands.command(name="delete", description="Delete one of your custom options")
    @app_commands.describe(name="the option's name, like wide for --wide")
    async def delete(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        await self.cog.change(interaction, lambda current: _delete(current, name))

    @set_.autocomplete("name")
    @delete.autocomplete("name")
    async def _names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The caller's option names that start with what they typed."""
        try:
            defaults = await self.cog.bot.queue.admission.get_settings(interaction.user.id)
        except Exception:
            log.exception("option names for user %s", interaction.user.id)
            return []
        typed = current.strip().removeprefix("--").lower()
        names = [name for name in sorted(defaults.options or {}) if name.startswith(typed)]
        return [app_commands.Choice(name=f"--{name}", value=name) for name in names[:MAX_CHOICES]]

    @app_commands.command(name="list", description="Your custom options")
    async def list_(self, interaction: discord.Interaction) -> None:
        async def text() -> str:
            current = await self.cog.bot.queue.admission.get_settings(interaction.user.id)
            return prefer_messages.options_list(current.options or {})

        await answer_privately(interaction, self.cog.guarded(interaction, text))


def _delete(current: UserDefaults, name: str) -> tuple[UserDefaults, str]:
    updated = delete_option(current, name)
    return updated, prefer_messages.option_deleted(name.strip().removeprefix("--").lower())


class PreferGroup(app_commands.Group):
    def __init__(self, cog: Prefer) -> None:
        super().__init__(name="prefer", description="Your prompt preferences: a suffix and custom options")
        self.cog = cog
        self.add_command(OptionGroup(cog))

    @app_commands.command(name="suffix", description="Text added to the end of every prompt")
    @app_commands.describe(text="like --ar 16:9 --s 250, or words; leave out to clear your suffix")
    async def suffix(self, interaction: discord.Interaction, text: str | None = None) -> None:
        bot = self.cog.bot

        def change(current: UserDefaults) -> tuple[UserDefaults, str]:
            updated = set_suffix(current, text, bot.limits)
            if updated.suffix is None:
                return updated, prefer_messages.suffix_cleared(current.suffix is not None)
            return updated, prefer_messages.suffix_saved(updated.suffix)

        await self.cog.change(interaction, change, text or "")


class Prefer(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.group = PreferGroup(self)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name)

    async def change(self, interaction: discord.Interaction, change: Change, typed: str = "") -> None:
        """Read the caller's settings, apply `change`, save when it passes; answer privately. `typed`
        (a value or suffix, which every later prompt will contain) is moderated like a prompt."""
        user_id = interaction.user.id

        async def text() -> str:
            admission = self.bot.queue.admission
            try:
                if typed:
                    await check_prompt(self.bot, interaction, typed)  # a banned word: refused, a strike
                updated, answer = change(await admission.get_settings(user_id))
            except PreferenceError as err:
                return prefer_messages.refused(err)
            except Refusal as refusal:
                return str(refusal)
            await admission.set_settings(user_id, updated)
            return answer

        await answer_privately(interaction, self.guarded(interaction, text))

    async def guarded(self, interaction: discord.Interaction, work: Callable[[], Awaitable[str]]) -> str:
        """`work()`'s answer; an unexpected error is logged and answered without detail."""
        try:
            return await work()
        except Exception:
            name = getattr(interaction.command, "qualified_name", "prefer")
            log.exception("/%s failed for user %s", name, interaction.user.id)
            return messages.internal_error()


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Prefer(bot))
