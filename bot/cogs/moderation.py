"""/admin words add|remove|list and /admin audit [member]: moderation's part of /admin.

They join the /admin group of bot.cogs.admin when this cog loads (before the commands are synced) and
are guarded by the same admin check. Scopes as for the rest of /admin: operators (`admin.user_ids`) edit
the global list and see the whole audit log; guild moderators (Manage Server) edit their guild's list and
see their guild's entries only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import moderation_messages as mm
from bot.cogs.admin import _admin_check, _answer
from bot.permissions import actor_of, admin_scope

if TYPE_CHECKING:
    from bot.client import ImagineBot


def _bot(interaction: discord.Interaction) -> ImagineBot:
    return interaction.client  # type: ignore[return-value]


async def _change_word(interaction: discord.Interaction, word: str, *, add: bool) -> None:
    """/admin words add|remove: the caller's scope's list (operators: global; moderators: their guild)."""

    async def work() -> str:
        bot, scope = _bot(interaction), admin_scope(_bot(interaction), interaction)
        change = bot.queue.moderation.add_word if add else bot.queue.moderation.remove_word
        try:
            clean, changed = await change(word, actor=actor_of(interaction), guild_id=scope)
        except ValueError as err:
            return mm.bad_word(str(err))
        reply = mm.word_added if add else mm.word_removed
        return reply(clean, changed, here=scope is not None)

    await _answer(interaction, work)


class WordsGroup(app_commands.Group):
    def __init__(self) -> None:
        super().__init__(name="words", description="Words refused in prompts")

    @app_commands.command(name="add", description="Refuse prompts containing a word")
    @app_commands.describe(word="a whole word (any case); operators: everywhere, managers: this server")
    async def add(self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100]) -> None:
        await _change_word(interaction, word, add=True)

    @app_commands.command(name="remove", description="Allow a banned word again")
    @app_commands.describe(word="the word, as /admin words list shows it")
    async def remove(self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100]) -> None:
        await _change_word(interaction, word, add=False)

    @app_commands.command(name="list", description="The banned words")
    async def list_(self, interaction: discord.Interaction) -> None:
        async def work() -> str:
            bot, scope = _bot(interaction), admin_scope(_bot(interaction), interaction)
            words = await bot.queue.moderation.list_words(scope)
            return mm.word_list(words, bot.settings.moderation.banned_words, here=scope is not None)

        await _answer(interaction, work)


@app_commands.command(name="audit", description="Who did what, when: the newest admin and moderation actions")
@app_commands.describe(member="only the entries about this member")
async def audit(interaction: discord.Interaction, member: discord.User | None = None) -> None:
    async def work() -> str:
        bot, scope = _bot(interaction), admin_scope(_bot(interaction), interaction)
        who = member.id if member is not None else None
        log = bot.queue.moderation
        entries = await log.audit_log(user_id=who, guild_id=scope, limit=mm.AUDIT_SHOWN)
        total = await log.audit_count(user_id=who, guild_id=scope)
        return mm.audit(entries, total, member=who)

    await _answer(interaction, work)


class Moderation(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.added: list[app_commands.Command | app_commands.Group] = [WordsGroup(), audit]  # type: ignore[type-arg]

    async def cog_load(self) -> None:
        group = self.bot.tree.get_command("admin")
        if not isinstance(group, app_commands.Group):
            raise RuntimeError("bot.cogs.moderation needs bot.cogs.admin loaded first")
        for command in self.added:
            group.add_command(command)
            walk = command.walk_commands() if isinstance(command, app_commands.Group) else [command]
            for cmd in walk:
                if isinstance(cmd, app_commands.Command):
                    cmd.add_check(_admin_check)

    async def cog_unload(self) -> None:
        group = self.bot.tree.get_command("admin")
        if isinstance(group, app_commands.Group):
            for command in self.added:
                group.remove_command(command.name)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Moderation(bot))
