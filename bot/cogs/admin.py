"""/admin: quotas, bans, the queue, cancel, pause/resume — for `admin.user_ids` and Manage Server members.

Everyone else gets an ephemeral refusal. The command is visible to all on purpose: `admin.user_ids` may
name people without Manage Server, from whom `default_permissions` would hide it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import admin_messages, messages
from bot.client import NotAdmin
from bot.permissions import actor_of, admin_scope, is_admin
from bot.replies import answer_privately
from db.errors import NotFound, QueueRefusal
from imaginebot.core.gpu_time import MAX_GPU_MINUTES

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

QUEUE_LINES = 25


def _scope(interaction: discord.Interaction) -> int | None:
    """Where the caller's /admin acts (see bot.permissions.admin_scope)."""
    return admin_scope(_bot(interaction), interaction)


async def _admin_check(interaction: discord.Interaction) -> bool:
    if is_admin(_bot(interaction), interaction):
        return True
    raise NotAdmin


def _bot(interaction: discord.Interaction) -> ImagineBot:
    return interaction.client  # type: ignore[return-value]


def _actor(interaction: discord.Interaction) -> str:
    return actor_of(interaction)


async def _answer(interaction: discord.Interaction, work: Callable[[], Awaitable[str]]) -> None:
    async def text() -> str:
        try:
            return await work()
        except QueueRefusal as err:
            return messages.refused(messages.refusal(err))
        except NotFound as err:
            return messages.refused(messages.not_found(err))
        except Exception:
            log.exception("/admin failed for user %s", interaction.user.id)
            return messages.internal_error()

    await answer_privately(interaction, text())


async def _quota_text(
    bot: ImagineBot, user_id: int, guild_id: int | None, *, changed: bool = False
) -> str:
    return admin_messages.admin_quota(await bot.queue.reads.quota_info(user_id, guild_id), changed=changed)


class QuotaGroup(app_commands.Group):
    def __init__(self) -> None:
        super().__init__(name="quota", description="A member's daily quota")

    @app_commands.command(name="show", description="Show a member's quota")
    @app_commands.describe(member="whose quota")
    async def show(self, interaction: discord.Interaction, member: discord.User) -> None:
        await _answer(interaction, lambda: _quota_text(_bot(interaction), member.id, _scope(interaction)))

    @app_commands.command(name="set", description="Set a member's jobs per day and/or Fast GPU minutes")
    @app_commands.describe(member="whose quota", daily_jobs="jobs per UTC day",
                           gpu_minutes="Fast GPU minutes per UTC day, 0 = unlimited (operators only)")
    async def set_(self, interaction: discord.Interaction, member: discord.User,
                   daily_jobs: app_commands.Range[int, 0, 100000] | None = None,
                   gpu_minutes: app_commands.Range[float, 0.0, MAX_GPU_MINUTES] | None = None) -> None:
        bot = _bot(interaction)

        async def work() -> str:
            guild_id = _scope(interaction)
            if daily_jobs is None and gpu_minutes is None:
                return messages.refused(admin_messages.quota_set_needs_a_value())
            if gpu_minutes is not None and guild_id is not None:
                return messages.refused(admin_messages.gpu_minutes_operators_only())
            await bot.queue.admin.quota_set(member.id, daily_jobs, actor=_actor(interaction),
                                            guild_id=guild_id, fast_gpu_minutes=gpu_minutes)
            return await _quota_text(bot, member.id, guild_id, changed=True)

        await _answer(interaction, work)

    @app_commands.command(name="reset", description="Forget a member's override and today's usage")
    @app_commands.describe(member="whose quota")
    async def reset(self, interaction: discord.Interaction, member: discord.User) -> None:
        bot = _bot(interaction)

        async def work() -> str:
            guild_id = _scope(interaction)
            await bot.queue.admin.quota_reset(member.id, actor=_actor(interaction), guild_id=guild_id)
            return await _quota_text(bot, member.id, guild_id, changed=True)

        await _answer(interaction, work)


class AdminGroup(app_commands.Group):
    def __init__(self, bot: ImagineBot) -> None:
        super().__init__(name="admin", description="Manage imaginebot: quotas, bans and the queue")
        self.bot = bot
        self.add_command(QuotaGroup())

    @app_commands.command(name="ban", description="Stop a member from generating images")
    @app_commands.describe(member="who", reason="shown to them when they try")
    async def ban(self, interaction: discord.Interaction, member: discord.User, reason: str = "") -> None:
        async def work() -> str:
            guild_id = _scope(interaction)
            dropped = await self.bot.queue.admin.ban(
                member.id, reason=reason, actor=_actor(interaction), guild_id=guild_id)
            return admin_messages.admin_banned(member.id, reason, dropped, here=guild_id is not None)

        await _answer(interaction, work)

    @app_commands.command(name="unban", description="Let a member generate images again")
    @app_commands.describe(member="who")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        async def work() -> str:
            guild_id = _scope(interaction)
            await self.bot.queue.admin.unban(member.id, actor=_actor(interaction), guild_id=guild_id)
            return admin_messages.admin_unbanned(member.id, here=guild_id is not None)

        await _answer(interaction, work)

    @app_commands.command(name="queue", description="The running and waiting jobs")
    async def queue_(self, interaction: discord.Interaction) -> None:
        async def work() -> str:
            reads, guild_id = self.bot.queue.reads, _scope(interaction)
            jobs = await reads.queue_list(guild_id)
            paused = await reads.is_paused() or (guild_id is not None and await reads.is_paused(guild_id))
            return admin_messages.admin_queue(jobs, paused=paused, shown=QUEUE_LINES)

        await _answer(interaction, work)

    @app_commands.command(name="cancel", description="Cancel a job (refunded if it had not started)")
    @app_commands.describe(job="the job id, as shown by /admin queue")
    async def cancel(self, interaction: discord.Interaction, job: str) -> None:
        async def work() -> str:
            outcome = await self.bot.queue.admin.cancel(
                job.strip(), actor=_actor(interaction), guild_id=_scope(interaction))
            return admin_messages.admin_cancelled(job.strip(), outcome)

        await _answer(interaction, work)

    @app_commands.command(name="pause", description="Stop starting new jobs (running ones finish)")
    async def pause(self, interaction: discord.Interaction) -> None:
        async def work() -> str:
            guild_id = _scope(interaction)
            await self.bot.queue.admin.pause(actor=_actor(interaction), guild_id=guild_id)
            return admin_messages.admin_paused(here=guild_id is not None)

        await _answer(interaction, work)

    @app_commands.command(name="resume", description="Start jobs again")
    async def resume(self, interaction: discord.Interaction) -> None:
        async def work() -> str:
            guild_id = _scope(interaction)
            await self.bot.queue.admin.resume(actor=_actor(interaction), guild_id=guild_id)
            return admin_messages.admin_resumed(here=guild_id is not None)

        await _answer(interaction, work)


def _guard(group: app_commands.Group) -> None:
    """Every /admin command, nested ones too, runs only for admins."""
    for cmd in group.walk_commands():
        if isinstance(cmd, app_commands.Command):
            cmd.add_check(_admin_check)


class Admin(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.group = AdminGroup(bot)
        _guard(self.group)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Admin(bot))
