"""Image moderation as members see it, through the Discord stand-in: a result with a flagged image is a
spoiler (`SPOILER_` file) outside channels marked NSFW, or its flagged images are withheld with a note
(`moderation.nsfw_action = "block"`); in an NSFW channel it is posted as it is.

`VerdictEngine` (the fake engine) gives its images verdicts by their prompt, as the worker's image check
would; the last test runs the real tiny model with a tiny classifier forced to flag everything.
"""

from __future__ import annotations

import io
from typing import Any

from discord_standin import DiscordStandIn
from fake_engine import SleepEngine
from fixtures_bot import RunningBot, wait_until
from PIL import Image

from imaginebot.core.domain import GenRequest, GenResult

SPOILER_NOTE = "Image moderation flagged image 2: shown as a spoiler."


class VerdictEngine(SleepEngine):
    """Flags image 2 of a prompt with "risky" in it (an upscale of it: its one image), every image of a
    prompt with "dangerous"."""

    def _result(self, r: GenRequest) -> GenResult:
        result = super()._result(r)
        if "dangerous" in r.spec.prompt:
            flags = (True,) * r.image_count
        elif "risky" in r.spec.prompt:
            flags = (True,) if r.image_count == 1 else tuple(k == 2 for k in range(1, r.image_count + 1))
        else:
            flags = (False,) * r.image_count
        return GenResult(result.job_id, result.images, result.width, result.height, flags=flags)


def _file(message: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = message["attachments"]
    return attachment


def _buttons(message: dict[str, Any]) -> list[str]:
    return [c.get("label") or c.get("emoji", {}).get("name", "")
            for row in message["components"] for c in row["components"]]


async def _result(bot: RunningBot, user: dict[str, Any], prompt: str, channel: str | None = None,
                  ) -> dict[str, Any]:
    """The result message of `user`'s prompt (with or without a file) in `channel`."""
    ix = await bot.standin.slash(user, "imagine", {"prompt": prompt}, channel_id=channel)
    await ix.wait_ack(5)
    job_id = await _job_id(bot, user, prompt)

    def done(m: dict[str, Any]) -> bool:
        return m.get("nonce") == job_id

    return await bot.standin.wait_for_message(done, 30, channel_id=channel)


async def _job_id(bot: RunningBot, user: dict[str, Any], prompt: str) -> str:
    async def found() -> str | None:
        jobs = await bot.queue.reads.history(user=int(user["id"]))
        return next((j.id for j in jobs if j.spec.prompt == prompt), None)

    job_id: str = await wait_until(found, 10, f"the job of {prompt!r}")
    return job_id


async def test_a_flagged_grid_is_a_spoiler_outside_nsfw_channels(
    standin: DiscordStandIn, start_bot: Any
) -> None:
    bot = await start_bot(VerdictEngine("fake-model", steps=2))
    kim = standin.add_member("kim")
    grid = await _result(bot, kim, "a risky beach")
    assert _file(grid)["filename"].startswith("SPOILER_")
    assert SPOILER_NOTE in grid["content"]
    assert _buttons(grid)[:4] == ["U1", "U2", "U3", "U4"]  # the buttons still work on a spoilered grid
    upscale_ix = await standin.press(kim, grid, label="U2")
    await upscale_ix.wait_ack(5)
    upscale = await standin.wait_for_message(lambda m: "Image #2" in m["content"] and m["attachments"], 30)
    assert _file(upscale)["filename"].startswith("SPOILER_")
    assert "Image moderation flagged this image: shown as a spoiler." in upscale["content"]

    clean = await _result(bot, kim, "a quiet beach")
    assert not _file(clean)["filename"].startswith("SPOILER_") and "moderation" not in clean["content"]

    after_dark = standin.add_channel("after-dark", nsfw=True)
    shown = await _result(bot, kim, "a risky beach at night", after_dark)
    assert not _file(shown)["filename"].startswith("SPOILER_")
    assert "moderation" not in shown["content"]


async def test_block_withholds_the_flagged_images(standin: DiscordStandIn, start_bot: Any) -> None:
    bot = await start_bot(VerdictEngine("fake-model", steps=2, size=32), moderation={"nsfw_action": "block"})
    lou = standin.add_member("lou")
    grid = await _result(bot, lou, "a risky harbour")
    assert "🚫 Image 2 withheld by image moderation." in grid["content"]
    file = _file(grid)
    assert not file["filename"].startswith("SPOILER_")
    with Image.open(io.BytesIO(bytes(file["data"]))) as picture:
        rgb = picture.convert("RGB")
        assert rgb.getpixel((48, 16)) == (54, 57, 63)  # image 2 (top right) is a blank tile
        assert rgb.getpixel((16, 16)) != (54, 57, 63)

    nothing = await _result(bot, lou, "a dangerous harbour")
    assert nothing["attachments"] == [] and nothing["components"] == []
    assert "🚫 All 4 images withheld by image moderation." in nothing["content"]

    upscale_ix = await standin.press(lou, grid, label="U2")
    await upscale_ix.wait_ack(5)
    withheld = await standin.wait_for_message(lambda m: "Image #2" in m["content"], 30)
    assert withheld["attachments"] == []
    assert "🚫 This image withheld by image moderation." in withheld["content"]

    after_dark = standin.add_channel("after-dark", nsfw=True)
    shown = await _result(bot, lou, "a dangerous harbour at night", after_dark)
    assert len(shown["attachments"]) == 1 and "moderation" not in shown["content"]


async def test_show_keeps_the_verdict(standin: DiscordStandIn, start_bot: Any) -> None:
    """/show re-posts a flagged result as a spoiler outside NSFW channels too, and as it is inside one."""
    bot = await start_bot(VerdictEngine("fake-model", steps=2))
    ned = standin.add_member("ned")
    grid = await _result(bot, ned, "a risky lagoon")
    job_id = await _job_id(bot, ned, "a risky lagoon")

    ix = await standin.slash(ned, "show", {"job_id": job_id})
    shown = await ix.wait_message(lambda m: bool(m["attachments"]), 10)
    assert _file(shown)["filename"] == f"SPOILER_show-{job_id}.png" and SPOILER_NOTE in shown["content"]
    assert grid["id"] != shown["id"]

    after_dark = standin.add_channel("after-dark", nsfw=True)
    ix = await standin.slash(ned, "show", {"job_id": job_id}, channel_id=after_dark)
    shown = await ix.wait_message(lambda m: bool(m["attachments"]), 10)
    assert _file(shown)["filename"] == f"show-{job_id}.png" and "moderation" not in shown["content"]
    assert standin.violations == []


async def test_the_real_check_spoilers_the_tiny_models_grid(
    standin: DiscordStandIn, start_bot: Any, tiny_bot_engine: Any, tmp_path: Any
) -> None:
    from gen.safety import image_moderation
    from gen.tiny_safety import make_tiny_classifier
    from imaginebot.core.config import ModerationSettings

    folder = make_tiny_classifier(tmp_path / "nsfw-classifier", verdict="nsfw")
    pipe = tiny_bot_engine.engine.pipe
    tiny_bot_engine.moderation = image_moderation(pipe, ModerationSettings(image_classifier=str(folder)))
    try:
        bot = await start_bot(tiny_bot_engine)
        max_ = standin.add_member("max")
        grid = await _result(bot, max_, "a lighthouse")
        assert _file(grid)["filename"].startswith("SPOILER_")
        assert "flagged all 4 images" in grid["content"]
        (job,) = await bot.queue.reads.history(user=int(max_["id"]))
        assert [i.flagged for i in await bot.queue.reads.get_images(job.id)] == [True] * 4
    finally:
        tiny_bot_engine.moderation = None
