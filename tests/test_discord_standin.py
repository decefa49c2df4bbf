"""The Discord stand-in driven by a real, unmodified discord.py bot over real sockets."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands
from discord_standin import DiscordStandIn, pointed_at
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
    def __init__(self, guild_id: int) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.guild = discord.Object(guild_id)
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
            except discord.Forbidden:
                await interaction.response.send_message("dms closed", ephemeral=True)
            else:
                await interaction.response.send_message("sent", ephemeral=True)

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
        self.tree.copy_global_to(guild=self.guild)
        await self.tree.sync(guild=self.guild)

    async def next_event(self, timeout: float = 5.0) -> tuple[Any, ...]:
        return await asyncio.wait_for(self.events.get(), timeout)


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as server:
        yield server


@pytest.fixture
async def bot(standin: DiscordStandIn) -> AsyncIterator[StandInBot]:
    with pointed_at(standin):
        client = StandInBot(int(standin.guild_id))
        runner = asyncio.create_task(client.start(standin.token))
        try:
            await standin.wait_ready(10)
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(runner, 10)


async def test_ready_and_command_sync(standin: DiscordStandIn, bot: StandInBot) -> None:
    await asyncio.wait_for(bot.wait_until_ready(), 5)
    assert bot.user is not None and str(bot.user.id) == standin.bot_user["id"]
    assert bot.application_id == int(standin.application_id)
    guild = bot.get_guild(int(standin.guild_id))
    assert guild is not None and guild.get_channel(int(standin.channel_id)) is not None
    names = {c["name"] for c in standin.commands(standin.guild_id)}
    assert names == {"render", "imagine", "slow", "later", "kitchen", "style", "dm", "admin"}
    admin = next(c for c in standin.commands(standin.guild_id) if c["name"] == "admin")
    assert admin["default_member_permissions"] == str(discord.Permissions(manage_guild=True).value)
    seen = {(r.method, r.route) for r in standin.requests}
    assert ("GET", "GET /users/@me") in seen
    assert ("PUT", "PUT /applications/{application_id}/guilds/{guild_id}/commands") in seen
    assert [c.kind for c in standin.gateway_connections] == ["identify"]
    assert standin.violations == []


async def test_slash_defer_then_edit_original(standin: DiscordStandIn, bot: StandInBot) -> None:
    alice = standin.add_member("alice")
    ix = await standin.slash(alice, "render", {"prompt": "a fox"})
    ack = await ix.wait_ack(5)
    assert ack.type == 5 and ack.elapsed < standin.callback_deadline
    message = await ix.wait_message(lambda m: m["content"] == "rendered: a fox", 5)
    assert message["flags"] == 0 and message["interaction_metadata"]["user"]["id"] == alice["id"]
    assert len(message["edits"]) == 1 and message["initial"]["flags"] & 128  # was "thinking"
    assert standin.violations == []


async def test_post_png_and_press_dynamic_button(standin: DiscordStandIn, bot: StandInBot) -> None:
    bob = standin.add_member("bob")
    ix = await standin.slash(bob, "imagine", {"prompt": "a lighthouse"})
    assert (await ix.wait_ack(5)).type == 4
    assert [m["content"] for m in ix.ephemeral_messages()] == ["Queued a lighthouse"]
    grid = await standin.wait_for_message(lambda m: m["attachments"] and m["components"], 5)
    attachment = grid["attachments"][0]
    assert attachment["filename"] == "grid.png" and (attachment["width"], attachment["height"]) == (64, 64)
    assert Image.open(io.BytesIO(attachment["data"])).size == (64, 64)
    assert standin.find_button(grid, "U3")["custom_id"] == f"up:{ix.id}:3"

    press = await standin.press(bob, grid, label="U3")
    assert await bot.next_event() == ("pressed", int(ix.id), 3, int(bob["id"]))
    assert (await press.wait_ack(5)).type == 6
    edited = await standin.wait_for_message(
        lambda m: m["id"] == grid["id"] and m["content"].startswith("up"), 5
    )
    assert edited["content"] == f"upscaled U3 of job {ix.id}" and edited["attachments"]
    assert standin.violations == []


async def test_late_callback_gets_unknown_interaction(standin: DiscordStandIn, bot: StandInBot) -> None:
    standin.callback_deadline = 0.3
    bot.slow_delay = 0.5
    ix = await standin.slash(standin.add_member("carol"), "slow")
    assert await bot.next_event() == ("slow-error", 404, 10062)
    violation = await standin.wait_for_violation("late_callback")
    assert ix.ack is None and ix.callbacks[0].status == 404 and "deadline" in violation.message


async def test_expired_token_rejects_followup(standin: DiscordStandIn, bot: StandInBot) -> None:
    standin.token_ttl = 0.4
    bot.slow_delay = 0.6
    ix = await standin.slash(standin.add_member("dave"), "later")
    assert (await ix.wait_ack(5)).type == 5
    assert await bot.next_event() == ("later-error", 401, 50027)
    assert [v.kind for v in standin.violations] == ["expired_token"]


async def test_enforce_nonce_dedup_and_replies(standin: DiscordStandIn, bot: StandInBot) -> None:
    channel = bot.get_channel(int(standin.channel_id))
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("only once", nonce=424242)
    second = await channel.send("only once", nonce=424242)
    third = await channel.send("only once", nonce=434343)
    assert first.id == second.id != third.id
    assert [m["content"] for m in standin.messages()] == ["only once", "only once"]
    reply = await first.reply(f"replying to <@{standin.owner['id']}>")
    stored = standin.message(str(reply.id))
    assert stored["type"] == 19 and stored["referenced_message"]["id"] == str(first.id)
    assert reply.reference is not None and reply.reference.message_id == first.id
    assert [u["id"] for u in stored["mentions"]] == [standin.owner["id"]]
    assert standin.violations == []


async def test_rate_limited_edit_is_retried(standin: DiscordStandIn, bot: StandInBot) -> None:
    erin = standin.add_member("erin")
    ix = await standin.slash(erin, "imagine", {"prompt": "rain"})
    grid = await standin.wait_for_message(lambda m: bool(m["components"]), 5)
    injection = standin.fail_next("PATCH", r"^/channels/\d+/messages/\d+$", status=429, retry_after=0.2)
    await standin.press(erin, grid, label="U1")
    assert (await bot.next_event())[:3] == ("pressed", int(ix.id), 1)
    statuses = [r.status for r in standin.requests if r.method == "PATCH" and r.path.startswith("/channels/")]
    assert statuses == [429, 200] and injection.hits and injection.count == 0
    assert standin.message(grid["id"])["content"] == f"upscaled U1 of job {ix.id}"
    assert standin.violations == []


@pytest.mark.parametrize(
    ("mode", "code", "kind"),
    [
        ("close", 1001, "resume"),
        ("reconnect", None, "resume"),
        ("abrupt", None, "resume"),
        ("invalidate", None, "identify"),
    ],
)
async def test_gateway_drop_reconnects(
    standin: DiscordStandIn, bot: StandInBot, mode: str, code: int | None, kind: str
) -> None:
    connection = await standin.drop_gateway(code, mode=mode, timeout=15)
    assert connection is not None and connection.kind == kind
    if kind == "resume":
        assert connection.path == "/resume"  # discord.py used READY's resume_gateway_url
    ix = await standin.slash(standin.add_member("frank"), "render", {"prompt": "after drop"})
    await ix.wait_message(lambda m: m["content"] == "rendered: after drop", 5)
    assert standin.violations == []


async def test_subcommand_options_and_permissions(standin: DiscordStandIn, bot: StandInBot) -> None:
    plain = standin.add_member("grace")
    manager = standin.add_member("heidi", manage_guild=True)
    with pytest.raises(PermissionError):
        await standin.slash(plain, "admin quota set", {"member": plain, "daily": 5})
    ix = await standin.slash(manager, "admin quota set", {"member": plain, "daily": 5})
    message = await ix.wait_message(timeout=5)
    assert message["content"] == "quota grace=5" and message["flags"] & 64
    with pytest.raises(ValueError, match="unknown options"):
        await standin.slash(manager, "admin quota set", {"member": plain, "weekly": 5})
    assert standin.violations == []


async def test_invalid_bodies_are_rejected_and_recorded(standin: DiscordStandIn) -> None:
    standin.attachment_size_limit = 1024
    url = f"{standin.api_base_url}/channels/{standin.channel_id}/messages"
    auth = {"Authorization": f"Bot {standin.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"content": 5, "embeds": "nope"}, headers=auth) as response:
            body = await response.json()
            assert (
                response.status == 400
                and body["code"] == 50035
                and set(body["errors"]) == {"content", "embeds"}
            )
        async with http.post(url, json={"content": "x" * 2001}, headers=auth) as response:
            assert response.status == 400 and "content" in (await response.json())["errors"]
        async with http.post(url, json={"content": "hi"}) as response:
            assert response.status == 401
        form = aiohttp.FormData()
        form.add_field("payload_json", '{"content": "big", "attachments": [{"id": 0, "filename": "a.bin"}]}')
        form.add_field("files[0]", b"x" * 2048, filename="a.bin", content_type="application/octet-stream")
        async with http.post(url, data=form, headers=auth) as response:
            assert response.status == 413 and (await response.json())["code"] == 40005
    assert [v.kind for v in standin.violations] == ["schema", "limit", "auth", "attachment_size"]
    assert standin.messages() == []


async def test_second_callback_is_already_acknowledged(standin: DiscordStandIn, bot: StandInBot) -> None:
    ix = await standin.slash(standin.add_member("ivan"), "render", {"prompt": "twice"})
    await ix.wait_ack(5)
    url = f"{standin.api_base_url}/interactions/{ix.id}/{ix.token}/callback"
    async with aiohttp.ClientSession() as http, http.post(url, json={"type": 5}) as response:
        assert response.status == 400 and (await response.json())["code"] == 40060
    assert [v.kind for v in standin.violations] == ["double_ack"]


async def test_many_payload_shapes_validate(standin: DiscordStandIn, bot: StandInBot) -> None:
    judy = standin.add_member("judy")
    ix = await standin.slash(judy, "kitchen")
    assert await bot.next_event() == ("kitchen-done",)
    original = ix.original
    assert original is not None and original["embeds"][0]["title"] == "Grid"
    assert [a["filename"] for a in original["attachments"]] == ["grid.png", "small.png"]
    (extra,) = ix.followups
    assert extra["deleted"] and extra["flags"] & 64 and extra["edits"][-1]["content"] == "extra (edited)"

    restyle = await standin.press(judy, original, label="Restyle")
    assert (await restyle.wait_ack(5)).type == 7
    assert standin.message(original["id"])["content"] == "restyled"

    describe = await standin.press(judy, original, label="Describe")
    assert (await describe.wait_ack(5)).type == 9 and describe.modal is not None
    submitted = await standin.submit_modal(judy, describe, {"prompt": "a cat"})
    await submitted.wait_message(lambda m: m["content"] == "described: a cat", 5)

    choice = await standin.press(judy, original, custom_id="mode", values=["relax"])
    assert (await choice.wait_message(timeout=5))["content"] == "mode relax"
    assert standin.violations == []


async def test_autocomplete_and_direct_messages(standin: DiscordStandIn, bot: StandInBot) -> None:
    kim = standin.add_member("kim")
    typing = await standin.autocomplete(kim, "style", {"name": "ph"}, focused="name")
    assert (await typing.wait_ack(5)).type == 8
    assert typing.autocomplete_choices == [{"name": "photo", "value": "photo"}]

    sent = await standin.slash(kim, "dm")
    await sent.wait_message(lambda m: m["content"] == "sent", 5)
    assert [m["content"] for m in standin.dm_messages(kim)] == ["psst"]
    standin.block_dms(kim)
    refused = await standin.slash(kim, "dm")
    await refused.wait_message(lambda m: m["content"] == "dms closed", 5)
    assert standin.violations == []


async def test_server_error_is_retried(standin: DiscordStandIn, bot: StandInBot) -> None:
    path = f"/channels/{standin.channel_id}"
    injection = standin.fail_next("GET", f"^{path}$", status=502)
    channel = await bot.fetch_channel(int(standin.channel_id))
    assert str(channel.id) == standin.channel_id
    assert [r.status for r in standin.requests if r.method == "GET" and r.path == path] == [502, 200]
    assert injection.hits == [f"GET {path}"] and standin.violations == []


def test_vendored_spec_subset_is_reproducible() -> None:
    from discord_standin import vendor_spec

    if not vendor_spec.DEFAULT_SOURCE.exists():
        pytest.skip("full Discord OpenAPI spec not available")
    raw = vendor_spec.DEFAULT_SOURCE.read_bytes()
    rebuilt = vendor_spec.build_subset(json.loads(raw), hashlib.sha256(raw).hexdigest())
    assert json.loads(vendor_spec.OUTPUT.read_text(encoding="utf-8")) == rebuilt
