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

from bot import messages
from bot.client import NotAdmin
from bot.replies import answer_privately
from db.errors import NotFound, QueueRefusal
from db.records import CancelOutcome, JobRecord

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

QUEUE_LINES = 25
CANCELLED = {
    CancelOutcome.REFUNDED: "cancelled before it started; its quota was refunded.",
    CancelOutcome.STOPPING: "cancelled; it stops within a second or two.",
    CancelOutcome.ALREADY_FINISHED: "had already finished; nothing changed.",
}


def is_admin(bot: ImagineBot, interaction: discord.Interaction) -> bool:
    if interaction.user.id in bot.settings.admin.user_ids:
        return True
    return bool(interaction.guild_id and interaction.permissions.manage_guild)


async def _admin_check(interaction: discord.Interaction) -> bool:
    if is_admin(_bot(interaction), interaction):
        return True
    raise NotAdmin


def _bot(interaction: discord.Interaction) -> ImagineBot:
    return interaction.client  # type: ignore[return-value]


def _actor(interaction: discord.Interaction) -> str:
    return f"discord:{interaction.user.id}"


async def _answer(interaction: discord.Interaction, work: Callable[[], Awaitable[str]]) -> None:
    async def text() -> str:
        try:
            return await work()
        except (QueueRefusal, NotFound) as err:
            return messages.refused(str(err))
        except Exception:
            log.exception("/admin failed for user %s", interaction.user.id)
            return messages.internal_error()

    await answer_privately(interaction, text())


async def _quota_text(bot: ImagineBot, user_id: int) -> str:
    info = await bot.queue.quota_info(user_id)
    override = " (set for them)" if info.limit_overridden else ""
    ban = f" — **banned**{': ' + info.ban_reason if info.ban_reason else ''}" if info.banned else ""
    return (f"<@{user_id}>: {info.used_today}/{info.daily_limit}{override} used today, "
            f"{info.left_today} left; {info.queued} queued, {info.running} running{ban}")


def _queue_line(job: JobRecord) -> str:
    where = f"#{job.position}" if job.position else f"{job.progress}%"
    return f"`{job.id}` {job.status.value} {where} <@{job.user_id}> {job.kind.value}: {job.spec.prompt[:60]}"


class QuotaGroup(app_commands.Group):
    def __init__(self) -> None:
        super().__init__(name="quota", description="A member's daily quota")

    @app_commands.command(name="show", description="Show a member's quota")
    @app_commands.describe(member="whose quota")
    async def show(self, interaction: discord.Interaction, member: discord.User) -> None:
        await _answer(interaction, lambda: _quota_text(_bot(interaction), member.id))

    @app_commands.command(name="set", description="Set a member's jobs per day")
    @app_commands.describe(member="whose quota", daily_jobs="jobs per UTC day")
    async def set_(self, interaction: discord.Interaction, member: discord.User,
                   daily_jobs: app_commands.Range[int, 0, 100000]) -> None:
        bot = _bot(interaction)

        async def work() -> str:
            await bot.queue.quota_set(member.id, daily_jobs, actor=_actor(interaction))
            return "✅ " + await _quota_text(bot, member.id)

        await _answer(interaction, work)

    @app_commands.command(name="reset", description="Forget a member's override and today's usage")
    @app_commands.describe(member="whose quota")
    async def reset(self, interaction: discord.Interaction, member: discord.User) -> None:
        bot = _bot(interaction)

        async def work() -> str:
            await bot.queue.quota_reset(member.id, actor=_actor(interaction))
            return "✅ " + await _quota_text(bot, member.id)

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
            dropped = await self.bot.queue.ban(member.id, reason=reason, actor=_actor(interaction))
            why = f": {reason}" if reason else "."
            extra = f" {dropped} waiting job(s) cancelled and refunded." if dropped else ""
            return f"⛔ <@{member.id}> is banned{why}{extra}"

        await _answer(interaction, work)

    @app_commands.command(name="unban", description="Let a member generate images again")
    @app_commands.describe(member="who")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        async def work() -> str:
            await self.bot.queue.unban(member.id, actor=_actor(interaction))
            return f"✅ <@{member.id}> may generate images again."

        await _answer(interaction, work)

    @app_commands.command(name="queue", description="The running and waiting jobs")
    async def queue_(self, interaction: discord.Interaction) -> None:
        async def work() -> str:
            jobs = await self.bot.queue.queue_list()
            head = "⏸️ The queue is paused.\n" if await self.bot.queue.is_paused() else ""
            if not jobs:
                return head + "The queue is empty."
            lines = [_queue_line(j) for j in jobs[:QUEUE_LINES]]
            more = f"\n… and {len(jobs) - QUEUE_LINES} more" if len(jobs) > QUEUE_LINES else ""
            return head + "\n".join(lines) + more

        await _answer(interaction, work)

    @app_commands.command(name="cancel", description="Cancel a job (refunded if it had not started)")
    @app_commands.describe(job="the job id, as shown by /admin queue")
    async def cancel(self, interaction: discord.Interaction, job: str) -> None:
        async def work() -> str:
            outcome = await self.bot.queue.cancel(job.strip(), actor=_actor(interaction))
            return f"✅ Job `{job.strip()}` {CANCELLED[outcome]}"

        await _answer(interaction, work)

    @app_commands.command(name="pause", description="Stop starting new jobs (running ones finish)")
    async def pause(self, interaction: discord.Interaction) -> None:
        async def work() -> str:
            await self.bot.queue.pause(actor=_actor(interaction))
            return "⏸️ The queue is paused: no new jobs are accepted or started until /admin resume."

        await _answer(interaction, work)

    @app_commands.command(name="resume", description="Start jobs again")
    async def resume(self, interaction: discord.Interaction) -> None:
        async def work() -> str:
            await self.bot.queue.resume(actor=_actor(interaction))
            return "▶️ The queue is running again."

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
