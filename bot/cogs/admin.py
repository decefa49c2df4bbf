"""/admin: quotas, bans, the queue, cancel, pause/resume — for `admin.user_ids` and Manage Server members.

Everyone else gets an ephemeral refusal. The command is visible to all on purpose: `admin.user_ids` may
name people without Manage Server, whom `default_permissions` would hide it from.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.submit import reply_ephemeral
from db.queue import QueueRefusal, UnknownJob

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)


def is_admin(bot: ImagineBot, interaction: discord.Interaction) -> bool:
    if interaction.user.id in bot.settings.admin.user_ids:
        return True
    perms = getattr(interaction.user, "guild_permissions", None)
    return bool(perms and perms.manage_guild)


async def _admin_check(interaction: discord.Interaction) -> bool:
    if is_admin(interaction.client, interaction):  # type: ignore[arg-type]
        return True
    raise NotAdmin


class NotAdmin(app_commands.CheckFailure):
    """Raised by the /admin check; the tree's error handler answers with an ephemeral refusal."""


async def _do(interaction: discord.Interaction, coro: Any) -> None:
    try:
        text = await coro
    except (QueueRefusal, UnknownJob) as err:
        text = f"⚠️ {err}"
    except Exception:
        log.exception("/admin failed")
        text = messages.internal_error()
    await reply_ephemeral(interaction, str(text))


def _bot(interaction: discord.Interaction) -> ImagineBot:
    return interaction.client  # type: ignore[return-value]


async def _quota_text(bot: ImagineBot, user_id: int) -> str:
    info = await bot.queue.quota_info(user_id)
    ban = " — **banned**" if info.banned else ""
    return (f"<@{user_id}>: {info.used_today}/{info.daily_limit} used today, {info.left_today} left; "
            f"{info.queued} queued, {info.running} running{ban}")


class QuotaGroup(app_commands.Group):
    def __init__(self) -> None:
        super().__init__(name="quota", description="A member's daily quota")

    @app_commands.command(name="show", description="Show a member's quota")
    @app_commands.describe(member="whose quota")
    async def show(self, interaction: discord.Interaction, member: discord.User) -> None:
        await _do(interaction, _quota_text(_bot(interaction), member.id))

    @app_commands.command(name="set", description="Set a member's jobs per day")
    @app_commands.describe(member="whose quota", daily_jobs="jobs per UTC day")
    async def set_(self, interaction: discord.Interaction, member: discord.User,
                   daily_jobs: app_commands.Range[int, 0, 100000]) -> None:
        bot = _bot(interaction)

        async def run() -> str:
            await bot.queue.quota_set(member.id, daily_jobs, actor=interaction.user.id)
            return "✅ " + await _quota_text(bot, member.id)
        await _do(interaction, run())

    @app_commands.command(name="reset", description="Forget a member's override and today's usage")
    @app_commands.describe(member="whose quota")
    async def reset(self, interaction: discord.Interaction, member: discord.User) -> None:
        bot = _bot(interaction)

        async def run() -> str:
            await bot.queue.quota_reset(member.id, actor=interaction.user.id)
            return "✅ " + await _quota_text(bot, member.id)
        await _do(interaction, run())


class AdminGroup(app_commands.Group):
    def __init__(self, bot: ImagineBot) -> None:
        super().__init__(name="admin", description="Manage imaginebot: quotas, bans and the queue")
        self.bot = bot
        self.add_command(QuotaGroup())

    @app_commands.command(name="ban", description="Stop a member from generating images")
    @app_commands.describe(member="who", reason="shown to them when they try")
    async def ban(self, interaction: discord.Interaction, member: discord.User, reason: str = "") -> None:
        async def run() -> str:
            await self.bot.queue.ban(member.id, reason=reason, actor=interaction.user.id)
            return f"⛔ <@{member.id}> is banned" + (f": {reason}" if reason else ".")
        await _do(interaction, run())

    @app_commands.command(name="unban", description="Let a member generate images again")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        async def run() -> str:
            await self.bot.queue.unban(member.id, actor=interaction.user.id)
            return f"✅ <@{member.id}> may generate images again."
        await _do(interaction, run())

    @app_commands.command(name="queue", description="The waiting and running jobs")
    async def queue_(self, interaction: discord.Interaction) -> None:
        async def run() -> str:
            jobs = await self.bot.queue.queue_list()
            paused = await self.bot.queue.is_paused()
            head = "⏸️ The queue is paused.\n" if paused else ""
            if not jobs:
                return head + "The queue is empty."
            lines = [f"`{j.job_id}` {j.status} #{j.position or '-'} <@{j.user_id}> {j.kind}" for j in jobs[:25]]
            more = f"\n… and {len(jobs) - 25} more" if len(jobs) > 25 else ""
            return head + "\n".join(lines) + more
        await _do(interaction, run())

    @app_commands.command(name="cancel", description="Cancel a job (refunded if it had not started)")
    @app_commands.describe(job="the job id, as shown by /admin queue")
    async def cancel(self, interaction: discord.Interaction, job: str) -> None:
        async def run() -> str:
            await self.bot.queue.cancel(job, actor=interaction.user.id)
            return f"✅ Job `{job}` cancelled."
        await _do(interaction, run())

    @app_commands.command(name="pause", description="Stop starting new jobs (running ones finish)")
    async def pause(self, interaction: discord.Interaction) -> None:
        async def run() -> str:
            await self.bot.queue.pause(actor=interaction.user.id)
            return "⏸️ The queue is paused: no new jobs start until /admin resume."
        await _do(interaction, run())

    @app_commands.command(name="resume", description="Start jobs again")
    async def resume(self, interaction: discord.Interaction) -> None:
        async def run() -> str:
            await self.bot.queue.resume(actor=interaction.user.id)
            return "▶️ The queue is running again."
        await _do(interaction, run())


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
