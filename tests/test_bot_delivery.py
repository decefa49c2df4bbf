"""Delivery under Discord's rules: expired interaction tokens, 429s, gateway drops, upload limits, retries.

The fake engine is used here because these tests are about timing (how long a job runs relative to the
token lifetime and the progress throttle), which the fake engine controls exactly.
"""

from __future__ import annotations

import io
import itertools
import random
from typing import Any

import aiohttp
from discord_standin import DiscordStandIn
from fake_engine import SleepEngine
from fixtures_bot import FAKE_MODEL, wait_until
from PIL import Image

from imaginebot.core.domain import GenRequest, GenResult

EDIT = r"^/channels/\d+/messages/\d+$"


def noise_png(side: int, seed: int) -> bytes:
    """A PNG that does not compress (random pixels), to exceed small upload limits."""
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (side, side), bytes(rng.getrandbits(8) for _ in range(side * side * 3)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class NoiseEngine(SleepEngine):
    def _result(self, r: GenRequest) -> GenResult:
        return GenResult(r.job_id, [noise_png(self.size, r.seed + k) for k in range(r.image_count)],
                         self.size, self.size)


async def test_progress_edits_are_throttled(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(seconds=5, steps=25))
    ivy = standin.add_member("ivy")
    await bot.imagine(ivy, "a slow sunrise")
    progress_id = await bot.progress_id(ivy)
    await bot.wait_result(timeout=15)
    edits = standin.message(progress_id)["edits"]
    percents = [e["content"] for e in edits if "%" in e["content"]]
    assert len(percents) >= 3, percents
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(edits)]
    assert min(gaps) >= 1.3, gaps  # discord.progress_interval = 1.5 s
    assert any(e["attachments"] for e in edits)
    assert standin.violations == []


async def test_result_arrives_after_the_interaction_token_expired(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    standin.token_ttl = 2.0
    bot = await start_bot(fake_bot_engine(seconds=4, steps=8))
    judy = standin.add_member("judy")
    ix = await bot.imagine(judy, "a long night")
    progress_id = await bot.progress_id(judy)
    grid = await bot.wait_result(timeout=15)
    assert ix.expired
    (job,) = await bot.queue.reads.history(user=int(judy["id"]))
    assert grid["nonce"] == job.id and not grid.get("webhook_id")  # posted with the bot token

    async def progress_deleted() -> bool:  # deleted right after the result is posted, not before
        return bool(standin.message(progress_id)["deleted"])

    await wait_until(progress_deleted, 10, "the progress message deleted")
    upscale = await standin.press(judy, grid, label="U2")  # the grid's buttons outlive the token too
    await upscale.wait_ack(5)
    await bot.wait_result(lambda m: "Image #2" in m["content"], timeout=15)
    assert standin.violations == []


async def test_rate_limited_progress_edit_is_retried(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(seconds=3, steps=12))
    injection = standin.fail_next("PATCH", EDIT, status=429, retry_after=0.6)
    kim = standin.add_member("kim")
    await bot.imagine(kim, "patience")
    progress_id = await bot.progress_id(kim)
    await bot.wait_result(timeout=15)
    assert injection.hits and injection.count == 0
    statuses = [r.status for r in standin.requests if r.method == "PATCH" and r.path.startswith("/channels/")]
    assert statuses[0] == 429 and 200 in statuses[1:]
    assert standin.message(progress_id)["edits"], "the edit went through after the retry-after"
    assert standin.violations == []


async def test_commands_work_after_gateway_drops(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    leo = standin.add_member("leo")
    for mode, kind in (("close", "resume"), ("invalidate", "identify")):
        connection = await standin.drop_gateway(1001 if mode == "close" else None, mode=mode, timeout=20)
        assert connection is not None and connection.kind == kind
        ix = await bot.imagine(leo, f"after a {mode}")
        await bot.wait_result(lambda m, mode=mode: f"after a {mode}" in m["content"], timeout=10)
        assert ix.ack is not None
    assert standin.violations == []


async def test_large_results_are_reencoded_under_the_upload_limit(
    standin: DiscordStandIn, start_bot: Any
) -> None:
    standin.attachment_size_limit = 24_000
    bot = await start_bot(NoiseEngine(FAKE_MODEL, size=96))
    await bot.imagine(standin.add_member("max"), "static")
    grid = await bot.wait_result(timeout=15)
    (attachment,) = grid["attachments"]
    assert attachment["filename"].endswith(".jpg") and attachment["size"] <= 24_000
    with Image.open(io.BytesIO(attachment["data"])) as img:
        assert img.format == "JPEG" and img.size[0] >= 96
    assert standin.violations == []


async def test_a_result_posted_before_a_crash_is_not_posted_again(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """The bot died after posting a result but before marking it delivered: on the next start it posts
    again with the same nonce, and Discord (enforce_nonce) hands back the first message."""
    bot = await start_bot(fake_bot_engine(), queue={"embedded_worker": False})
    nina = standin.add_member("nina")
    await bot.imagine(nina, "only once")

    async def queued() -> list[Any]:  # a busy bot acks (defers) before its enqueue commits
        return await bot.queue.reads.history(user=int(nina["id"]))

    (job,) = await wait_until(queued, 10, "the job queued")
    progress_id = await bot.progress_id(nina)
    await bot.shutdown()

    url = f"{standin.api_base_url}/channels/{standin.channel_id}/messages"
    async with aiohttp.ClientSession() as http, http.post(
        url, json={"content": "the result, posted before the crash", "nonce": job.id, "enforce_nonce": True},
        headers={"Authorization": f"Bot {standin.token}"},
    ) as response:
        first = await response.json()
    [claimed] = await bot.queue.lifecycle.claim("test-worker", model=FAKE_MODEL, max_images=4)
    engine = fake_bot_engine()
    await bot.queue.lifecycle.complete_many("test-worker", await engine.generate([claimed.request()]))

    again = await start_bot(fake_bot_engine(), queue={"embedded_worker": False})
    await wait_until(lambda: _delivered(again, job.id), 10, "the job marked delivered")
    assert [m["id"] for m in standin.messages() if m.get("nonce") == job.id] == [first["id"]]
    assert (await again.queue.reads.get_job(job.id)).result_message_id == int(first["id"])
    assert standin.message(progress_id)["deleted"]
    assert standin.violations == []


async def _delivered(bot: Any, job_id: str) -> bool:
    return (await bot.queue.reads.get_job(job_id)).delivered_at is not None



async def test_a_failed_job_is_told_privately_with_its_reason(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """The engine refuses the batch: its user is told why, privately (the token is still valid), that the
    quota was refunded, and the progress message goes away."""
    bot = await start_bot(fake_bot_engine(fail="generation"))
    olga = standin.add_member("olga")
    ix = await bot.imagine(olga, "a huge mural")
    progress_id = await bot.progress_id(olga)

    async def notice() -> str | None:
        texts = [m["content"] for m in ix.ephemeral_messages() if "❌" in m["content"]]
        return texts[0] if texts else None

    text = await wait_until(notice, 20, "the failure notice")
    assert text == (
        "**a huge mural** — ❌ The image generator failed: out of memory for this image size. "
        "Your quota for it was refunded. Try again in a moment."
    )
    assert (await bot.queue.reads.quota_info(int(olga["id"]))).used_today == 0
    await wait_until(lambda: _deleted(standin, progress_id), 10, "the progress message removed")
    assert standin.violations == []


async def _deleted(standin: DiscordStandIn, message_id: str) -> bool:
    return bool(standin.message(message_id)["deleted"])


async def test_prompts_are_shown_as_typed_and_only_the_owner_is_pinged(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """A prompt naming @everyone, a role and another member pings nobody but its owner, in the progress
    message, its edits and the result; its markdown is shown as typed, not rendered."""
    bot = await start_bot(fake_bot_engine(seconds=3, steps=12))
    mallory, victim = standin.add_member("mallory"), standin.add_member("victim")
    prompt = f"**loud** _fox_ @everyone @here <@{victim['id']}> <@&{standin.guild_id}> `code`"
    await bot.imagine(mallory, prompt)
    progress_id = await bot.progress_id(mallory)
    grid = await bot.wait_result(timeout=15)
    progress = standin.message(progress_id)
    shown = [progress["initial"], *progress["edits"], grid]
    for message in shown:
        assert [u["id"] for u in message["mentions"]] == [mallory["id"]], message["content"]
        assert message["mention_roles"] == [] and message["mention_everyone"] is False
        assert "\\*\\*loud\\*\\* \\_fox\\_" in message["content"] and "\\`code\\`" in message["content"]
    assert standin.violations == []
