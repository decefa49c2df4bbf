"""/describe through the real bot and the stand-in (SQLite and PostgreSQL), with the tiny random captioner
(gen.tiny_inputs) as `gen.captioner`: four numbered prompts, public, with buttons 1–4 that imagine that
prompt; without a captioner, or for a file that is no image, one ephemeral message and nothing queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from discord_standin import DiscordStandIn
from discord_standin.models import UploadedFile
from fixtures_bot import wait_until
from PIL import Image
from test_bot_commands import private_reply

from imaginebot.core.images import png_bytes

EPHEMERAL = 1 << 6


@pytest.fixture(scope="session")
def tiny_captioner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen.tiny_inputs import make_tiny_captioner

    return make_tiny_captioner(tmp_path_factory.mktemp("captioner") / "captioner", seed=3)


def picture() -> UploadedFile:
    return UploadedFile("files[0]", "harbour.png", "image/png", png_bytes(Image.new("RGB", (48, 40), "teal")))


async def test_describe_gives_four_prompts_and_a_button_imagines_one(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, tiny_captioner: Path
) -> None:
    from gen.captioner import Captioner

    bot = await start_bot(fake_bot_engine(), gen={"captioner": str(tiny_captioner)})
    ada = standin.add_member("ada")
    ix = await standin.slash(ada, "describe", {"image": picture()})
    answer = await ix.wait_message(lambda m: "**4.**" in m["content"], 60)
    assert not answer["flags"] & EPHEMERAL  # public, like /imagine
    lines = answer["content"].splitlines()
    expected = Captioner(tiny_captioner).describe(png_bytes(Image.new("RGB", (48, 40), "teal")))
    assert lines[1:] == [f"**{n}.** {p}" for n, p in enumerate(expected, start=1)]
    labels = [c["label"] for row in answer["components"] for c in row["components"]]
    assert labels == ["1", "2", "3", "4"]
    assert await bot.queue.reads.history(user=int(ada["id"])) == []  # describing charges nothing

    bo = standin.add_member("bo")
    press = await standin.press(bo, answer, "2")
    await press.wait_ack(5)

    async def queued() -> Any:
        return await bot.queue.reads.history(user=int(bo["id"]))

    [job] = await wait_until(queued, 10, "bo's job")
    assert job.spec.prompt == expected[1]
    await bot.wait_result(timeout=30)
    assert standin.violations == []


async def test_describe_without_a_captioner_or_an_image_says_so(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, tiny_captioner: Path
) -> None:
    await start_bot(fake_bot_engine())
    cy = standin.add_member("cy")
    text = await private_reply(await standin.slash(cy, "describe", {"image": picture()}))
    assert "no captioner is configured (gen.captioner)" in text
    assert standin.violations == []


async def test_describe_refuses_a_file_that_is_no_image(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, tiny_captioner: Path
) -> None:
    await start_bot(fake_bot_engine(), gen={"captioner": str(tiny_captioner)})
    di = standin.add_member("di")
    junk = UploadedFile("files[0]", "notes.png", "image/png", b"plain text, not a picture")
    text = await private_reply(await standin.slash(di, "describe", {"image": junk}))
    assert "PNG, JPEG, WebP or GIF" in text
    assert standin.violations == []
