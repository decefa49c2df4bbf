"""The bot's daily retention run: `queue.retention.prune(storage.keep_days)` shortly after start, then
every 24 hours. A failed run is logged and tried again next time; it never stops the bot."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from db.records import PruneReport

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

FIRST_RUN_AFTER = 60.0  # seconds after start: out of the way of start-up and the first deliveries
EVERY = 24 * 3600.0  # seconds between runs


class RetentionLoop(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.retention = bot.queue.retention
        self.keep_days = bot.settings.storage.keep_days
        self.first_after = FIRST_RUN_AFTER
        self.every = EVERY
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        await asyncio.sleep(self.first_after)
        while True:
            await self.run_once()
            await asyncio.sleep(self.every)

    async def run_once(self) -> PruneReport | None:
        """One retention run; its report, or None when it failed (logged as a warning)."""
        try:
            report = await self.retention.prune(self.keep_days, actor="bot")
        except Exception as exc:  # (a cancellation is no Exception: it ends the loop)
            log.warning("retention run failed, next try in %.0f h: %s", self.every / 3600, exc, exc_info=True)
            return None
        log.info(
            "retention (keep_days=%d): %d job(s) lost %d image(s) and %d input(s), %.1f MB; "
            "%d expired interaction token(s) erased",
            self.keep_days, report.jobs, report.images, report.inputs, report.bytes / 1_000_000,
            report.tokens,
        )
        return report


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(RetentionLoop(bot))
