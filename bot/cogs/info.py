"""/info (quota and your jobs), /settings (your defaults, applied where a prompt is silent) and /models
(the models, LoRAs and embeddings this bot offers)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, mode_messages, prefer_messages
from bot.replies import answer_privately
from imaginebot.core.catalogue import UnknownModelError
from imaginebot.core.domain import JobStatus, UserDefaults
from imaginebot.core.gpu_time import FAST
from imaginebot.core.prompt import PromptError, parse_prompt

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

QUALITY_CHOICES = [app_commands.Choice(name=v, value=v) for v in (".25", ".5", "1")]
MAX_JOB_LINES = 15
FLAGS = (("aspect_ratio", "--ar"), ("stylize", "--stylize"), ("quality", "--quality"), ("chaos", "--chaos"),
         ("stop", "--stop"))


class Info(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="info", description="Your quota and your queued and running jobs")
    async def info(self, interaction: discord.Interaction) -> None:
        await answer_privately(interaction, self._info_text(interaction.user.id))

    async def _info_text(self, user_id: int) -> str:
        try:
            return await self._info_lines(user_id)
        except Exception:
            log.exception("/info failed for user %s", user_id)
            return messages.internal_error()

    async def _info_lines(self, user_id: int) -> str:
        reads = self.bot.queue.reads
        quota = await reads.quota_info(user_id)
        lines = [messages.quota_line(quota.used_today, quota.daily_limit, quota.resets_at)]
        if quota.banned:
            lines.append(messages.banned_line(quota.ban_reason))
        jobs = await reads.user_jobs(user_id, [JobStatus.QUEUED, JobStatus.RUNNING])
        gpu_today = await reads.gpu_seconds_today(user_id)
        if gpu_today is not None:
            lines.append(messages.gpu_today_line(gpu_today))
        mode = (await self.bot.queue.admission.get_settings(user_id)).mode or FAST
        lines.append(mode_messages.job_mode(mode))
        if quota.fast_limit_seconds > 0 or quota.fast_used_seconds > 0:
            lines.append(mode_messages.fast_time(quota))
        lines.append(messages.info_counts(quota.queued, quota.running))
        lines += [messages.job_line(j.id, j.spec.prompt, messages.job_state(j)) for j in jobs[:MAX_JOB_LINES]]
        if len(jobs) > MAX_JOB_LINES:
            lines.append(messages.more_lines(len(jobs) - MAX_JOB_LINES))
        return "\n".join(lines)

    @app_commands.command(name="settings", description="Your defaults for prompts that don't say otherwise")
    @app_commands.describe(
        aspect_ratio="like 3:2 or 16:9", stylize="0–1000", quality=".25, .5 or 1", chaos="0–100",
        stop="10–100", tile="seamless tiling", reset="forget all your defaults",
        remix="Remix mode: V, 🔄, Vary, Zoom and Pan ask for the prompt first",
        model="your default model: a name or alias from /models",
        private="results by DM instead of the channel (you see them alone)",
        style="your personal style, applied by a bare --p: a style of this bot, or none",
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
        remix: bool | None = None,
        model: str | None = None,
        private: bool | None = None,
        style: app_commands.Range[str, 1, 100] | None = None,
        reset: bool = False,
    ) -> None:
        changes: dict[str, object] = {"aspect_ratio": aspect_ratio, "stylize": stylize, "quality": quality,
                                      "chaos": chaos, "stop": stop, "tile": tile, "remix": remix,
                                      "model": model, "private": private, "style": style}
        await answer_privately(interaction, self._settings_text(interaction.user.id, changes, reset))

    async def _settings_text(self, user_id: int, changes: dict[str, object], reset: bool) -> str:
        admission = self.bot.queue.admission
        try:
            current = await admission.get_settings(user_id)
            if reset:  # /prefer's suffix and options are not settings: they stay
                current = UserDefaults(suffix=current.suffix, options=current.options)
            if not reset and all(v is None for v in changes.values()):
                text = messages.settings_show(messages.settings_summary(current.to_json()))
            else:
                updated = self._validated(current, changes)
                await admission.set_settings(user_id, updated)
                text = messages.settings_saved(messages.settings_summary(updated.to_json()))
        except (PromptError, UnknownModelError) as err:
            text = messages.refused(str(err))
        except Exception:
            log.exception("/settings failed for user %s", user_id)
            text = messages.internal_error()
        return text

    def _validated(self, current: UserDefaults, changes: dict[str, object]) -> UserDefaults:
        """Check the new values with the prompt parser itself, so /settings and prompts agree on ranges."""
        params = [f"{flag} {changes[key]}" for key, flag in FLAGS if changes[key] is not None]
        spec = parse_prompt("settings " + " ".join(params), self.bot.limits)[0]
        merged = current.to_json()
        for key, _flag in FLAGS:
            if changes[key] is not None:
                merged[key] = getattr(spec, key)
        for switch in ("tile", "remix", "private"):  # on/off options: nothing for the parser to check
            if changes[switch] is not None:
                merged[switch] = bool(changes[switch])
        if changes["model"] is not None:  # a name or alias of the catalogue, stored as its name
            merged["model"] = self.bot.limits.catalogue.resolve(str(changes["model"]).strip()).name
        if changes["style"] is not None:
            merged["style"] = self._style(str(changes["style"]))
        return UserDefaults.from_json(merged)

    def _style(self, typed: str) -> str | None:
        """A `[styles.NAME]` of this bot by name (any case), or None for "none"."""
        wanted = typed.strip()
        if wanted.lower() in ("none", "off", ""):
            return None
        styles = self.bot.limits.styles
        found = next((name for name in styles if name.lower() == wanted.lower()), None)
        if found is None:
            raise PromptError(prefer_messages.unknown_style(wanted, sorted(styles)))
        return found

    @app_commands.command(name="models", description="The models, LoRAs and embeddings you can use")
    async def models(self, interaction: discord.Interaction) -> None:
        await answer_privately(interaction, self._models_text())

    async def _models_text(self) -> str:
        catalogue = self.bot.limits.catalogue
        return messages.models_list(
            [(m.name, m.aliases, m.profile.label, m.description, m.name == catalogue.default_name)
             for m in catalogue.models.values()],
            sorted(catalogue.loras()),
            sorted(catalogue.embeddings()),
        )


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Info(bot))
