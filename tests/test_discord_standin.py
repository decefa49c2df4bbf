"""The Discord stand-in driven by a real, unmodified discord.py bot over real sockets."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord_standin import DiscordStandIn, pointed_at
from discord_standin.example_bot import StandInBot
from PIL import Image


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as server:
        yield server


@contextlib.asynccontextmanager
async def running(standin: DiscordStandIn, client: StandInBot) -> AsyncIterator[StandInBot]:
    with pointed_at(standin):
        runner = asyncio.create_task(client.start(standin.token))
        try:
            await standin.wait_ready(10)
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(runner, 10)


@pytest.fixture
async def bot(standin: DiscordStandIn) -> AsyncIterator[StandInBot]:
    async with running(standin, StandInBot(int(standin.guild_id))) as client:
        yield client


@pytest.fixture
def beta(standin: DiscordStandIn) -> dict[str, Any]:
    """A second guild, added before the bot connects."""
    return standin.add_guild("Beta")


@pytest.fixture
async def multi_bot(standin: DiscordStandIn, beta: dict[str, Any]) -> AsyncIterator[StandInBot]:
    """A public bot in the default guild and Beta, syncing commands to both and globally (for DMs)."""
    client = StandInBot(int(standin.guild_id), int(beta["id"]), sync_global=True)
    async with running(standin, client):
        await standin.wait_for_commands(10, guild_id=beta["id"])
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client


async def test_ready_and_command_sync(standin: DiscordStandIn, bot: StandInBot) -> None:
    await asyncio.wait_for(bot.wait_until_ready(), 5)
    assert bot.user is not None and str(bot.user.id) == standin.bot_user["id"]
    assert bot.application_id == int(standin.application_id)
    guild = bot.get_guild(int(standin.guild_id))
    assert guild is not None and guild.get_channel(int(standin.channel_id)) is not None
    names = {c["name"] for c in standin.commands(standin.guild_id)}
    assert names == {
        "render",
        "imagine",
        "slow",
        "later",
        "kitchen",
        "style",
        "dm",
        "whoami",
        "announce",
        "admin",
    }
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


# -- several guilds, channels the bot may not use, DMs ------------------------------------------------------


async def test_every_guild_in_ready_and_joined_later(
    standin: DiscordStandIn, beta: dict[str, Any], multi_bot: StandInBot
) -> None:
    ready = next(p["d"] for c in standin.gateway_connections for p in c.sent if p.get("t") == "READY")
    assert [g["id"] for g in ready["guilds"]] == [standin.guild_id, beta["id"]] == standin.guild_ids
    guild_b = multi_bot.get_guild(int(beta["id"]))
    assert guild_b is not None and guild_b.name == "Beta" and guild_b.owner_id == int(beta["owner"]["id"])
    assert guild_b.get_channel(int(beta["channel_id"])) is not None
    assert guild_b.me is not None and guild_b.default_role.id == guild_b.id
    assert {c["name"] for c in standin.commands(beta["id"])} == {c["name"] for c in standin.commands()}
    fetched = [g async for g in multi_bot.fetch_guilds()]
    assert {g.id for g in fetched} == {int(standin.guild_id), int(beta["id"])}
    roles = await guild_b.fetch_roles()
    assert {r.name for r in roles} == {"@everyone", "Manager", standin.bot_user["username"]}

    gamma = standin.add_guild("Gamma")
    assert await multi_bot.next_event() == ("joined", int(gamma["id"]), "Gamma")
    extra = standin.add_channel("art", guild_id=gamma["id"])
    assert await multi_bot.next_event() == ("channel", int(extra), int(gamma["id"]))
    assert standin.violations == []


async def test_permissions_are_per_guild(
    standin: DiscordStandIn, beta: dict[str, Any], multi_bot: StandInBot
) -> None:
    mia = standin.add_member("mia")
    standin.join(mia, beta["id"], manage_guild=True)
    in_a = await standin.slash(mia, "whoami")
    assert await multi_bot.next_event() == (
        "whoami",
        int(standin.guild_id),
        "TextChannel",
        int(mia["id"]),
        False,
        True,
    )
    in_b = await standin.slash(mia, "whoami", guild_id=beta["id"])
    assert await multi_bot.next_event() == (
        "whoami",
        int(beta["id"]),
        "TextChannel",
        int(mia["id"]),
        True,
        True,
    )
    assert in_a.payload["guild_id"] == standin.guild_id and in_b.payload["guild_id"] == beta["id"]
    assert (
        in_b.payload["member"]["roles"] == [beta["manager_role_id"]] and in_a.payload["member"]["roles"] == []
    )
    await in_b.wait_message(timeout=5)
    assert [m["id"] for m in standin.messages(beta["channel_id"])] == [in_b.original_id]

    with pytest.raises(PermissionError):
        await standin.slash(mia, "admin quota set", {"member": mia, "daily": 3})
    ix = await standin.slash(mia, "admin quota set", {"member": mia, "daily": 3}, guild_id=beta["id"])
    assert (await ix.wait_message(timeout=5))["content"] == "quota mia=3"
    with pytest.raises(LookupError, match="not a member"):
        await standin.slash(standin.add_member("outsider"), "whoami", guild_id=beta["id"])
    assert standin.permissions(mia, guild_id=beta["id"]) & (1 << 5)
    assert not standin.permissions(mia) & (1 << 5)
    assert standin.violations == []


async def test_denied_channel_refuses_bot_but_not_interactions(
    standin: DiscordStandIn, beta: dict[str, Any], multi_bot: StandInBot
) -> None:
    nina = standin.add_member("nina", guild_id=beta["id"])
    channel = beta["channel_id"]
    standin.deny_bot(channel, 50013)
    ix = await standin.slash(nina, "announce", guild_id=beta["id"])
    assert await multi_bot.next_event() == ("announce-forbidden", 403, 50013, "Missing Permissions")
    followup = await ix.wait_message(lambda m: m["content"] == "cannot post here", 5)
    assert followup["channel_id"] == channel
    assert standin.refused == [("POST", f"/channels/{channel}/messages", 50013)]
    assert not int(ix.payload["app_permissions"]) & (1 << 11)  # SEND_MESSAGES, from the overwrite
    discord_channel = multi_bot.get_channel(int(channel))
    assert isinstance(discord_channel, discord.TextChannel) and discord_channel.guild.me is not None
    assert not discord_channel.permissions_for(discord_channel.guild.me).send_messages  # CHANNEL_UPDATE

    headers = {"Authorization": f"Bot {standin.token}"}
    base = f"{standin.api_base_url}/channels/{channel}"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{base}/messages") as response:
            assert response.status == 403
            assert await response.json() == {"message": "Missing Permissions", "code": 50013}
        async with http.get(base) as response:
            assert response.status == 200  # the bot can still see the channel
        standin.deny_bot(channel, 50001)
        async with http.get(base) as response:
            assert (response.status, await response.json()) == (
                403,
                {"message": "Missing Access", "code": 50001},
            )
    assert [r.code for r in standin.refused] == [50013, 50013, 50001]

    standin.allow_bot(channel)
    again = await standin.slash(nina, "announce", guild_id=beta["id"])
    await again.wait_message(lambda m: m["content"] == "posted", 5)
    (posted,) = [m for m in standin.messages(channel) if not m["flags"] & 64]
    assert posted["content"] == "announcement" and len(standin.refused) == 3
    standin.deny_bot(channel, 50001)
    async with aiohttp.ClientSession(headers=headers) as http:
        for method in ("PATCH", "DELETE"):
            body = {"content": "edited"} if method == "PATCH" else None
            async with http.request(method, f"{base}/messages/{posted['id']}", json=body) as response:
                assert (response.status, (await response.json())["code"]) == (403, 50001)
    assert [(r.method, r.code) for r in standin.refused[3:]] == [("PATCH", 50001), ("DELETE", 50001)]
    assert standin.message(posted["id"])["content"] == "announcement" and standin.violations == []


async def test_dms_reach_the_user_until_blocked(
    standin: DiscordStandIn, beta: dict[str, Any], multi_bot: StandInBot
) -> None:
    omar = standin.add_member("omar", guild_id=beta["id"])
    standin.deny_bot(beta["channel_id"], 50001)  # no access to the channel does not stop DMs
    sent = await standin.slash(omar, "dm", guild_id=beta["id"])
    await sent.wait_message(lambda m: m["content"] == "sent", 5)
    assert [m["content"] for m in standin.dm_messages(omar)] == ["psst"]

    standin.block_dms(omar)
    refused = await standin.slash(omar, "dm", guild_id=beta["id"])
    assert await multi_bot.next_event() == ("dm-forbidden", 403, 50007)
    await refused.wait_message(lambda m: m["content"] == "dms closed", 5)
    assert standin.refused == [("POST", f"/channels/{standin.dm_channel_id(omar)}/messages", 50007)]

    in_dm = await standin.slash(omar, "whoami", dm=True)
    assert await multi_bot.next_event() == ("whoami", None, "DMChannel", int(omar["id"]), False, True)
    assert "member" not in in_dm.payload and "guild_id" not in in_dm.payload
    assert in_dm.payload["user"]["id"] == omar["id"] and in_dm.payload["context"] == 1
    reply = await in_dm.wait_message(timeout=5)
    assert reply["channel_id"] == standin.dm_channel_id(omar) and reply["content"] == "you are omar"
    assert standin.violations == []
