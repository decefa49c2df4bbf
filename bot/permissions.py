"""Who may do what: operators (`admin.user_ids`) everywhere, guild moderators (Manage Server) in their
guild. Shared by /admin, /cancel and the Cancel button, so every admin check is the same one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from bot.client import ImagineBot


def is_operator(bot: ImagineBot, interaction: discord.Interaction) -> bool:
    return interaction.user.id in bot.settings.admin.user_ids


def is_admin(bot: ImagineBot, interaction: discord.Interaction) -> bool:
    moderator = bool(interaction.guild_id and interaction.permissions.manage_guild)
    return moderator or is_operator(bot, interaction)


def admin_scope(bot: ImagineBot, interaction: discord.Interaction) -> int | None:
    """Where the caller's admin powers act: everywhere for operators (None); a guild moderator (Manage
    Server) acts on the guild they are in, and only there."""
    return None if is_operator(bot, interaction) else interaction.guild_id


def actor_of(interaction: discord.Interaction) -> str:
    """Who an action is written down as in the audit log."""
    return f"discord:{interaction.user.id}"
