"""/info (quota and your jobs) and /settings (your defaults, applied where a prompt is silent)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.submit import reply_ephemeral
from imaginebot.domain import JobStatus, UserDefaults
from imaginebot.prompt import PromptError, parse_prompt

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

QUALITY_CHOICES = [app_commands.Choice(name=v, value=v) for v in (".25", ".5", "1")]


class Info(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="info", description="Your quota and your queued and running jobs")
    async def info(self, interaction: discord.Interaction) -> None:
        try:
            text = await self._info_text(interaction.user.id)
        except Exception:
            log.exception("/info failed for user %s", interaction.user.id)
            text = messages.internal_error()
        await reply_ephemeral(interaction, text)

    async def _info_text(self, user_id: int) -> str:
        q = self.bot.queue
        quota = await q.quota_info(user_id)
        lines = [messages.quota_line(quota.used_today, quota.daily_limit, quota.resets_at)]
        if quota.banned:
            lines.append("⛔ You are banned from generating images on this server.")
        jobs = await q.user_jobs(user_id, [JobStatus.QUEUED, JobStatus.RUNNING])
        lines.append(f"**Queued:** {quota.queued}   **Running:** {quota.running}")
        for job in jobs:
            if job.status is JobStatus.RUNNING:
                state = f"running, {job.progress}%"
            else:
                state = f"queued, position {await q.position(job.id)}"
            lines.append(f"• `{job.id}` {job.spec.prompt[:80]} — {state}")
        return "\n".join(lines)

    @app_commands.command(name="settings", description="Your defaults for prompts that don't say otherwise")
    @app_commands.describe(
        aspect_ratio="like 3:2 or 16:9", stylize="0–1000", quality=".25, .5 or 1", chaos="0–100",
        stop="10–100", tile="seamless tiling", reset="forget all your defaults",
    )
    @app_commands.choices(quality=QUALITY_CHOICES)
    async def settings(
        self,
        interaction: discord.Interaction,
        aspect_ratio: str | None = None,
        stylize: app_commands.Range[int, 0, 1000] | None = None,
        quality: str | None = None,
        chaos: app_commands.Range[int, 0, 100] | None = None,
        stop: app_commands.Range[int, 10, 100] | None = None,
        tile: bool | None = None,
        reset: bool = False,
    ) -> None:
        q = self.bot.queue
        try:
            current = UserDefaults() if reset else await q.get_user_settings(interaction.user.id)
            changes = {"aspect_ratio": aspect_ratio, "stylize": stylize, "quality": quality, "chaos": chaos,
                       "stop": stop, "tile": tile}
            if not reset and all(v is None for v in changes.values()):
                await reply_ephemeral(interaction, messages.settings_show(
                    messages.settings_summary(current.to_json())))
                return
            updated = self._validated(current, changes)
            await q.set_user_settings(interaction.user.id, updated)
        except PromptError as err:
            await reply_ephemeral(interaction, messages.prompt_error(str(err)))
            return
        except Exception:
            log.exception("/settings failed for user %s", interaction.user.id)
            await reply_ephemeral(interaction, messages.internal_error())
            return
        await reply_ephemeral(interaction, messages.settings_saved(messages.settings_summary(updated.to_json())))

    def _validated(self, current: UserDefaults, changes: dict[str, object]) -> UserDefaults:
        """Check the new values with the prompt parser itself, so /settings and prompts agree on ranges."""
        params = []
        for key, flag in (("aspect_ratio", "--ar"), ("stylize", "--stylize"), ("quality", "--quality"),
                          ("chaos", "--chaos"), ("stop", "--stop")):
            if changes[key] is not None:
                params.append(f"{flag} {changes[key]}")
        if changes["tile"]:
            params.append("--tile")
        spec = parse_prompt("settings " + " ".join(params), self.bot.limits)[0]
        merged = current.to_json()
        for key in ("aspect_ratio", "stylize", "quality", "chaos", "stop"):
            if changes[key] is not None:
                merged[key] = getattr(spec, key)
        if changes["tile"] is not None:
            merged["tile"] = bool(changes["tile"])
        return UserDefaults.from_json(merged)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Info(bot))
