"""/imagine with image prompts through the real bot and the stand-in (SQLite and PostgreSQL): an attached
image makes the pictures (img2img from it without an IP-Adapter, on the tiny model), and refused images
— a host not allowed, a file that is no image — get one clear ephemeral message and charge nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
from discord_standin import DiscordStandIn
from discord_standin.models import UploadedFile
from fixtures_bot import wait_until
from PIL import Image
from test_bot_commands import private_reply

from imaginebot.core.images import open_image, png_bytes

RED = (220, 30, 30)


def upload(data: bytes, name: str = "photo.png") -> UploadedFile:
    return UploadedFile("files[0]", name, "image/png", data)


async def test_an_attached_image_shapes_the_grid(
    standin: DiscordStandIn, start_bot: Any, tiny_bot_engine: Any
) -> None:
    bot = await start_bot(tiny_bot_engine)
    ada = standin.add_member("ada")
    red = png_bytes(Image.new("RGB", (96, 96), RED))
    ix = await standin.slash(ada, "imagine", {"prompt": "a lighthouse --iw 3", "image": upload(red)})
    await ix.wait_ack(5)
    result = await bot.wait_result(timeout=60)
    [job] = await bot.queue.reads.history(user=int(ada["id"]))
    assert job.spec.notes == ()  # --iw weighs the attachment: nothing ignored
    grid = np.asarray(open_image(bytes(result["attachments"][0]["data"])), float)
    r, g, b = (grid[..., k].mean() for k in range(3))
    assert r > g + 30 and r > b + 30  # the red image shows through at --iw 3
    assert (await bot.queue.reads.quota_info(int(ada["id"]))).used_today == 1
    assert standin.violations == []


async def test_refused_images_charge_nothing(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    bo = standin.add_member("bo")
    prompt = "https://images.example.org/cat.png a cat in a hat"
    text = await private_reply(await standin.slash(bo, "imagine", {"prompt": prompt}))
    assert "images.example.org" in text and "cdn.discordapp.com" in text and "nothing was charged" in text
    not_image = upload(b"this is not a picture at all", "notes.png")
    text = await private_reply(await standin.slash(bo, "imagine", {"prompt": "a cat", "image": not_image}))
    assert "image" in text and "PNG, JPEG, WebP or GIF" in text
    assert await bot.queue.reads.history(user=int(bo["id"])) == []
    quota = await bot.queue.reads.quota_info(int(bo["id"]))
    assert quota.used_today == 0
    assert standin.violations == []


async def test_style_references_need_an_ip_adapter_and_links(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    cy = standin.add_member("cy")
    link = "a tower --sref https://cdn.discordapp.com/attachments/1/2/style.png --sw 300"
    text = await private_reply(await standin.slash(cy, "imagine", {"prompt": link}))
    assert "--sref" in text and "gen.ip_adapter" in text and "nothing was charged" in text
    assert await bot.queue.reads.history(user=int(cy["id"])) == []
    assert standin.violations == []


async def test_style_codes_and_mixing_are_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, tmp_path: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), gen={"ip_adapter": str(tmp_path / "ipa.safetensors")})
    di = standin.add_member("di")
    text = await private_reply(await standin.slash(di, "imagine", {"prompt": "a tower --sref 1234567"}))
    assert "style codes such as 1234567" in text
    red = png_bytes(Image.new("RGB", (16, 16), RED))
    options = {"prompt": "a tower --sref https://cdn.discordapp.com/a/b/s.png", "image": upload(red)}
    text = await private_reply(await standin.slash(di, "imagine", options))
    assert "image prompts or --sref" in text
    assert await bot.queue.reads.history(user=int(di["id"])) == []
    assert standin.violations == []


async def test_blend_mixes_two_to_five_images(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    ed = standin.add_member("ed")
    pictures = [png_bytes(Image.new("RGB", (24, 24), c)) for c in ("red", "green", "blue")]
    options = {f"image{k}": upload(p, f"p{k}.png") for k, p in enumerate(pictures, start=1)}
    ix = await standin.slash(ed, "blend", {**options, "dimensions": "portrait"})
    await ix.wait_ack(5)
    await bot.wait_result(timeout=30)
    [job] = await bot.queue.reads.history(user=int(ed["id"]))
    assert (job.spec.prompt, job.spec.aspect_ratio) == ("a blend of 3 images", "2:3")
    stored = await _inputs(bot, job.id)  # once, in order, as sent
    assert [open_image(png).getpixel((0, 0)) for png in stored] == [(255, 0, 0), (0, 128, 0), (0, 0, 255)]

    text = await private_reply(await standin.slash(ed, "blend", {"image1": upload(pictures[0])}))
    assert "a blend needs 2 to 5 images, not 1" in text and "nothing was charged" in text
    assert len(await bot.queue.reads.history(user=int(ed["id"]))) == 1
    assert standin.violations == []


async def _inputs(bot: Any, job_id: str) -> list[bytes]:
    from db.job_inputs import prompt_inputs

    async with bot.queue.database.read() as conn:
        prompts, _ = await prompt_inputs(conn, [job_id])
    return prompts.get(job_id, [])


async def test_cn_turns_its_image_into_the_control_map(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, tmp_path: Any
) -> None:
    from imaginebot.core.image_inputs import control_map_png

    bot = await start_bot(fake_bot_engine(), gen={"controlnets": {"canny": str(tmp_path / "canny")}})
    fy = standin.add_member("fy")
    square = Image.new("RGB", (64, 64))
    square.paste((255, 255, 255), (16, 16, 48, 48))
    photo = png_bytes(square)
    options = {"prompt": "a castle --cn canny --cw 1.5", "image": upload(photo)}
    ix = await standin.slash(fy, "imagine", options)
    await ix.wait_ack(5)
    await bot.wait_result(timeout=30)
    [job] = await bot.queue.reads.history(user=int(fy["id"]))
    assert (job.spec.cn, job.spec.cw, job.spec.notes) == ("canny", 1.5, ())
    [stored] = await _inputs(bot, job.id)
    assert stored == control_map_png("canny", photo)  # the edges, made on the bot host
    assert set(open_image(stored).getdata()) == {(0, 0, 0), (255, 255, 255)}

    text = await private_reply(await standin.slash(fy, "imagine", {"prompt": "a castle --cn canny"}))
    assert "--cn canny needs an image" in text and "nothing was charged" in text
    options = {"prompt": "a castle --cn depth", "image": upload(photo)}
    text = await private_reply(await standin.slash(fy, "imagine", options))
    assert "gen.controlnets.depth" in text
    assert len(await bot.queue.reads.history(user=int(fy["id"]))) == 1
    assert standin.violations == []


async def test_reroll_and_variations_keep_the_image_prompts(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    gu = standin.add_member("gu")
    photo = png_bytes(Image.new("RGB", (32, 32), RED))
    ix = await standin.slash(gu, "imagine", {"prompt": "a lighthouse --iw 2", "image": upload(photo)})
    await ix.wait_ack(5)
    grid = await bot.wait_result(timeout=30)
    [original] = await bot.queue.reads.history(user=int(gu["id"]))
    for label in ("🔄", "V2"):
        press = await standin.press(gu, grid, label)
        await press.wait_ack(5)
    await bot.wait_result(lambda m: m["id"] != grid["id"], timeout=30)

    async def three() -> Any:
        jobs = await bot.queue.reads.history(user=int(gu["id"]))
        return jobs if len(jobs) == 3 else None

    jobs = await wait_until(three, 20, "the re-roll and the variation")
    assert sorted(j.kind.value for j in jobs) == ["imagine", "reroll", "variation"]
    for job in jobs:
        assert await _inputs(bot, job.id) == await _inputs(bot, original.id) != []
    assert standin.violations == []


async def test_a_variation_of_a_cn_grid_starts_from_the_picture_alone(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, tmp_path: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), gen={"controlnets": {"pose": str(tmp_path / "pose")}})
    hu = standin.add_member("hu")
    photo = png_bytes(Image.new("RGB", (32, 32), RED))
    ix = await standin.slash(hu, "imagine", {"prompt": "a dancer --cn pose", "image": upload(photo)})
    await ix.wait_ack(5)
    grid = await bot.wait_result(timeout=30)
    for label in ("V1", "🔄"):
        await (await standin.press(hu, grid, label)).wait_ack(5)

    async def three() -> Any:
        jobs = await bot.queue.reads.history(user=int(hu["id"]))
        return jobs if len(jobs) == 3 else None

    jobs = {j.kind.value: j for j in await wait_until(three, 20, "the variation and the re-roll")}
    assert await _inputs(bot, jobs["imagine"].id) == [photo]  # pose: the image itself is the map
    assert await _inputs(bot, jobs["reroll"].id) == [photo]
    assert await _inputs(bot, jobs["variation"].id) == []
    assert standin.violations == []


async def test_no_database_slot_is_held_while_images_are_fetched() -> None:
    import asyncio

    from bot.image_prompts import gate_released

    gate = asyncio.Semaphore(1)
    async with gate:
        async with gate_released(gate):
            await asyncio.wait_for(gate.acquire(), 1)  # another interaction gets the slot meanwhile
            gate.release()
        assert gate.locked()  # taken again for the enqueue
    assert not gate.locked()

    async def cancelled_while_fetching() -> None:
        async with gate, gate_released(gate):
            await asyncio.Event().wait()

    task = asyncio.ensure_future(cancelled_while_fetching())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.wait_for(gate.acquire(), 1)  # balanced: the slot is free again, once
    assert gate.locked()
    gate.release()
