"""A real discord.py bot (``commands.Bot`` with app commands, views, dynamic items, modals) that the
stand-in's own tests drive: every command exercises one thing Discord does, and reports what discord.py
saw on ``bot.events``."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands
from PIL import Image

GRID_TEMPLATE = r"up:(?P<job>[0-9]+):(?P<index>[1-4])"


def png_bytes(size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 80, 20)).save(buffer, "PNG")
    return buffer.getvalue()


class UpscaleButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=GRID_TEMPLATE):
    def __init__(self, job: int, index: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"U{index}", style=discord.ButtonStyle.secondary, custom_id=f"up:{job}:{index}"
            )
        )
        self.job = job
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> UpscaleButton:
        return cls(int(match["job"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, StandInBot)
        await interaction.response.defer()
        assert interaction.message is not None
        await interaction.message.edit(content=f"upscaled U{self.index} of job {self.job}")
        bot.events.put_nowait(("pressed", self.job, self.index, interaction.user.id))


class DescribeModal(discord.ui.Modal, title="Describe"):
    prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Prompt", custom_id="prompt", max_length=200
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"described: {self.prompt.value}")


class KitchenView(discord.ui.View):
    @discord.ui.button(label="Restyle", custom_id="restyle")
    async def restyle(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content="restyled", view=self)

    @discord.ui.button(label="Describe", custom_id="describe", style=discord.ButtonStyle.primary)
    async def describe(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(DescribeModal())

    @discord.ui.select(
        custom_id="mode", options=[discord.SelectOption(label="fast"), discord.SelectOption(label="relax")]
    )
    async def mode(self, interaction: discord.Interaction, select: discord.ui.Select[Any]) -> None:
        await interaction.response.send_message(f"mode {select.values[0]}", ephemeral=True)


class StandInBot(commands.Bot):
    def __init__(self, *guild_ids: int, sync_global: bool = False) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.guilds_to_sync = [discord.Object(guild_id) for guild_id in guild_ids]
        self.sync_global = sync_global
        self.events: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.slow_delay = 0.0
        self._register()

    def _register(self) -> None:
        tree = self.tree

        @tree.command(name="render", description="Defer, then edit the original response")
        async def render(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content=f"rendered: {prompt}")

        @tree.command(name="imagine", description="Post a grid with upscale buttons")
        async def imagine(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.send_message(f"Queued {prompt}", ephemeral=True)
            view = discord.ui.View(timeout=None)
            for index in range(1, 5):
                view.add_item(UpscaleButton(interaction.id, index))
            assert isinstance(interaction.channel, discord.TextChannel)
            await interaction.channel.send(
                content=f"**{prompt}**", file=discord.File(io.BytesIO(png_bytes()), "grid.png"), view=view
            )

        @tree.command(name="slow", description="Answers after the bot's slow_delay")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(self.slow_delay)
            try:
                await interaction.response.defer()
            except discord.HTTPException as exc:
                self.events.put_nowait(("slow-error", exc.status, exc.code))

        @tree.command(name="later", description="Defers, then follows up after slow_delay")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            await asyncio.sleep(self.slow_delay)
            try:
                await interaction.followup.send("finally")
            except discord.HTTPException as exc:
                self.events.put_nowait(("later-error", exc.status, exc.code))

        @tree.command(name="kitchen", description="Many payload shapes: embeds, files, views, edits")
        async def kitchen(interaction: discord.Interaction) -> None:
            embed = discord.Embed(
                title="Grid", description="four images", colour=0x5865F2, timestamp=discord.utils.utcnow()
            )
            embed.add_field(name="seed", value="42").set_footer(text="stand-in").set_image(
                url="attachment://grid.png"
            )
            grid = discord.File(io.BytesIO(png_bytes()), "grid.png")
            await interaction.response.send_message(embed=embed, file=grid, view=KitchenView())
            note = discord.File(io.BytesIO(b"hello"), "note.txt")
            extra = await interaction.followup.send("extra", file=note, ephemeral=True, wait=True)
            original = await interaction.original_response()
            small = discord.File(io.BytesIO(png_bytes(32)), "small.png")
            await interaction.edit_original_response(attachments=[*original.attachments, small])
            await extra.edit(content="extra (edited)")
            await extra.delete()
            self.events.put_nowait(("kitchen-done",))

        @tree.command(name="style", description="Pick a style")
        async def style(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"style {name}", ephemeral=True)

        @style.autocomplete("name")
        async def style_names(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
            return [Choice(name=s, value=s) for s in ("anime", "photo", "sketch") if current in s]

        @tree.command(name="dm", description="DM the invoking member")
        async def dm(interaction: discord.Interaction) -> None:
            try:
                await interaction.user.send("psst")
            except discord.Forbidden as exc:
                self.events.put_nowait(("dm-forbidden", exc.status, exc.code))
                await interaction.response.send_message("dms closed", ephemeral=True)
            else:
                await interaction.response.send_message("sent", ephemeral=True)

        @tree.command(name="whoami", description="Report where the interaction came from")
        async def whoami(interaction: discord.Interaction) -> None:
            where = (interaction.guild_id, type(interaction.channel).__name__, interaction.user.id)
            rights = (interaction.permissions.manage_guild, interaction.app_permissions.send_messages)
            self.events.put_nowait(("whoami", *where, *rights))
            await interaction.response.send_message(f"you are {interaction.user.name}", ephemeral=True)

        @tree.command(name="announce", description="Post in the channel, or say why not in a follow-up")
        async def announce(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            assert isinstance(interaction.channel, discord.TextChannel)
            try:
                await interaction.channel.send("announcement")
            except discord.Forbidden as exc:
                self.events.put_nowait(("announce-forbidden", exc.status, exc.code, exc.text))
                await interaction.followup.send("cannot post here", ephemeral=True)
            else:
                await interaction.followup.send("posted", ephemeral=True)

        admin = app_commands.Group(
            name="admin",
            description="Admin tools",
            default_permissions=discord.Permissions(manage_guild=True),
        )
        quota = app_commands.Group(name="quota", description="Quota tools", parent=admin)

        @quota.command(name="set", description="Set a member's daily quota")
        async def quota_set(interaction: discord.Interaction, member: discord.Member, daily: int) -> None:
            await interaction.response.send_message(f"quota {member.display_name}={daily}", ephemeral=True)

        tree.add_command(admin)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(UpscaleButton)
        for guild in self.guilds_to_sync:
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if self.sync_global:
            await self.tree.sync()

    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.events.put_nowait(("joined", guild.id, guild.name))

    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        self.events.put_nowait(("channel", channel.id, channel.guild.id))

    async def next_event(self, timeout: float = 5.0) -> tuple[Any, ...]:
        return await asyncio.wait_for(self.events.get(), timeout)
