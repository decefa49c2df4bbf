"""Midjourney's edit buttons on Discord: an upscaled image's four rows of edits, Custom Zoom's modal, the
Vary (Region) picker, Remix mode, and the refusals (another guild, an upscale past 4096 px, a pan past 4:1),
through the real bot and the stand-in, on SQLite and PostgreSQL.

The fake engine generates: an edit's images have the size of its plan, so the sizes here are the
geometry's (at base resolution 128: `--ar 3:2` is 160×104), while U<k> gives 32×32 squares.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from discord_standin import DiscordStandIn, InteractionHandle
from fake_engine import solid_png
from fixtures_bot import FAKE_MODEL, TINY_STEPS, RunningBot, png_size_of, wait_until
from test_bot_commands import private_reply

from db.records import DeliveryTarget, JobRecord
from imaginebot.core.domain import GenResult, ImageRef, JobKind
from imaginebot.core.edits import EditAction, cell_region, vary_region
from imaginebot.core.prompt import ParserLimits, parse_prompt

GRID_ROWS = [["U1", "U2", "U3", "U4"], ["V1", "V2", "V3", "V4", "🔄"]]
EDIT_ROWS = [
    ["Upscale (Subtle)", "Upscale (Creative)"],
    ["Vary (Subtle)", "Vary (Strong)", "Vary (Region)"],
    ["Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom", "Make Square"],
    ["⬅️", "➡️", "⬆️", "⬇️"],
]
SQUARE_EDIT_ROWS = [row if "Make Square" not in row else row[:3] for row in EDIT_ROWS]
CELLS = ["Top left", "Top", "Top right", "Left", "Centre", "Right", "Bottom left", "Bottom", "Bottom right"]
EPHEMERAL = 1 << 6
MODAL = 9
UPDATE_MESSAGE = 7
WIDE = (160, 104)  # `--ar 3:2` at base resolution 128
RESULT_WAIT = 30.0  # seconds: generous, for a loaded 2-core machine


# -- helpers -------------------------------------------------------------------------------------------


def button_rows(message: dict[str, Any]) -> list[list[str]]:
    return [[c["label"] for c in row["components"]] for row in message["components"]]


def attachment_size(message: dict[str, Any]) -> tuple[int, int]:
    (attachment,) = message["attachments"]
    return png_size_of(bytes(attachment["data"]))


def modal_fields(ix: InteractionHandle) -> dict[str, str]:
    assert ix.modal is not None, "no modal was opened"
    return {c["custom_id"]: c.get("value", "") for row in ix.modal["components"] for c in row["components"]}


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    return next(c for row in message["components"] for c in row["components"] if c["label"] == label)


async def jobs_of(bot: RunningBot, user: dict[str, Any]) -> list[JobRecord]:
    return await bot.queue.reads.history(user=int(user["id"]), limit=100)


async def new_job(bot: RunningBot, user: dict[str, Any], known: set[str]) -> JobRecord:
    """The job the user's latest request queued (a busy bot acks before its enqueue commits)."""

    async def fresh() -> JobRecord | None:
        found = [j for j in await jobs_of(bot, user) if j.id not in known]
        assert len(found) <= 1, found
        return found[0] if found else None

    job: JobRecord = await wait_until(fresh, RESULT_WAIT, "the new job")
    return job


async def result_of(bot: RunningBot, job_id: str) -> dict[str, Any]:
    """The job's result message (posted with its id as nonce)."""
    return await bot.wait_result(lambda m: m.get("nonce") == job_id, timeout=RESULT_WAIT)


async def submit_for_job(bot: RunningBot, user: dict[str, Any], opened_by: InteractionHandle,
                         values: dict[str, str]) -> JobRecord:
    """Submit the modal `opened_by` opened; the job it queued. Its answer is the public "Queued"
    message, or a private placeholder when the bot is busy."""
    known = {j.id for j in await jobs_of(bot, user)}
    ix = await bot.standin.submit_modal(user, opened_by, values)
    ack = await ix.wait_ack(5)
    assert ack.elapsed < 3 and ack.type in (4, 5), ack
    return await new_job(bot, user, known)


async def press_for_job(bot: RunningBot, user: dict[str, Any], message: dict[str, Any],
                        label: str) -> tuple[JobRecord, dict[str, Any]]:
    """Press `label` on `message`; the job it queued and that job's result message."""
    known = {j.id for j in await jobs_of(bot, user)}
    ix = await bot.standin.press(user, message, label=label)
    ack = await ix.wait_ack(5)
    assert ack.elapsed < 3 and ack.type in (4, 5), (label, ack)
    job = await new_job(bot, user, known)
    return job, await result_of(bot, job.id)


async def upscaled(
    bot: RunningBot, user: dict[str, Any], prompt: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """/imagine `prompt`, then U1: the grid and the upscaled image's message."""
    known = {j.id for j in await jobs_of(bot, user)}
    await bot.imagine(user, prompt)
    grid_job = await new_job(bot, user, known)
    grid = await result_of(bot, grid_job.id)
    _job, upscale = await press_for_job(bot, user, grid, "U1")
    return grid, upscale


async def opened_modal(bot: RunningBot, user: dict[str, Any], message: dict[str, Any],
                       label: str) -> InteractionHandle:
    ix = await bot.standin.press(user, message, label=label)
    ack = await ix.wait_ack(5)
    assert ack.type == MODAL and ack.elapsed < 3, ack
    return ix


async def nothing_new(bot: RunningBot, user: dict[str, Any], count: int, used: int) -> None:
    assert len(await jobs_of(bot, user)) == count, "nothing queued"
    assert (await bot.queue.reads.quota_info(int(user["id"]))).used_today == used, "nothing charged"


# -- the buttons -----------------------------------------------------------------------------------------


async def test_an_upscale_carries_the_edit_buttons_and_make_square_only_when_not_square(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    amy = standin.add_member("amy")
    grid, square = await upscaled(bot, amy, "a square fox --ar 1:1")
    assert button_rows(grid) == GRID_ROWS
    assert button_rows(square) == SQUARE_EDIT_ROWS
    assert "Image #1" in square["content"] and f"<@{amy['id']}>" in square["content"]
    _grid, wide = await upscaled(bot, amy, "a wide fox --ar 3:2")
    assert button_rows(wide) == EDIT_ROWS
    assert all(c["custom_id"].startswith("ib:") for row in wide["components"] for c in row["components"])
    assert standin.violations == []


async def test_zoom_pan_square_and_upscale_make_jobs_of_their_kind(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    ben = standin.add_member("ben")
    _grid, source = await upscaled(bot, ben, "a **lighthouse** --ar 3:2")
    [up_job] = [j for j in await jobs_of(bot, ben) if j.kind is JobKind.UPSCALE]

    zoom, zoomed = await press_for_job(bot, ben, source, "Zoom Out 2x")
    assert zoom.kind is JobKind.ZOOM_OUT and zoom.edit is not None and zoom.edit.zoom == 2.0
    assert (zoom.parent_job_id, zoom.parent_index) == (up_job.id, 1)
    assert zoom.edit.size == WIDE and (zoom.spec.width, zoom.spec.height) == WIDE
    assert button_rows(zoomed) == GRID_ROWS and attachment_size(zoomed) == (2 * WIDE[0], 2 * WIDE[1])
    assert "(Zoom Out 2x)" in zoomed["content"] and "\\*\\*lighthouse\\*\\*" in zoomed["content"]
    assert f"<@{ben['id']}>" in zoomed["content"]

    pan, panned = await press_for_job(bot, ben, source, "⬅️")
    assert pan.kind is JobKind.PAN and pan.edit is not None and pan.edit.action is EditAction.PAN_LEFT
    width, height = pan.edit.size
    assert width > height * 1.5 - 8 and pan.edit.place.right == width  # the new area is on the left
    assert button_rows(panned) == GRID_ROWS and attachment_size(panned) == (2 * width, 2 * height)
    assert "(Pan ⬅️)" in panned["content"]

    square, squared = await press_for_job(bot, ben, source, "Make Square")
    assert square.kind is JobKind.MAKE_SQUARE and square.edit is not None and square.edit.size == (128, 128)
    assert button_rows(squared) == GRID_ROWS and attachment_size(squared) == (256, 256)
    assert "(Make Square)" in squared["content"]

    upscale, again = await press_for_job(bot, ben, source, "Upscale (Subtle)")
    assert upscale.kind is JobKind.UPSCALE_SUBTLE and upscale.edit is not None
    assert attachment_size(again) == (64, 64)  # twice the 32×32 picture it came from
    assert button_rows(again) == EDIT_ROWS and "Upscale (Subtle)" in again["content"]

    # 🔄 on an edit's grid: the same edit (kind, source image, plan) again with a new seed.
    reroll, rerolled = await press_for_job(bot, ben, zoomed, "🔄")
    assert (reroll.kind, reroll.edit, reroll.parent_job_id, reroll.parent_index) == (
        JobKind.ZOOM_OUT, zoom.edit, up_job.id, 1)
    assert reroll.seed != zoom.seed and button_rows(rerolled) == GRID_ROWS
    assert (await bot.queue.reads.quota_info(int(ben["id"]))).used_today == 7  # each press a job
    assert standin.violations == []


async def test_custom_zoom_asks_for_the_prompt_and_the_zoom(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    cleo = standin.add_member("cleo")
    _grid, source = await upscaled(bot, cleo, "a lake at dawn --no boats --ar 3:2")
    count, used = len(await jobs_of(bot, cleo)), 2

    for typed, says in (("abc", "not a number"), ("2.5", "out of range"), ("0.5", "out of range")):
        ix = await opened_modal(bot, cleo, source, "Custom Zoom")
        submitted = await standin.submit_modal(cleo, ix, {"zoom": typed})
        text = await private_reply(submitted)
        assert text.startswith("⚠️ Zoom:") and says in text and "1.0 to 2.0" in text, text
        await nothing_new(bot, cleo, count, used)

    ix = await opened_modal(bot, cleo, source, "Custom Zoom")
    assert modal_fields(ix) == {"prompt": "a lake at dawn --no boats", "zoom": "2"}
    job = await submit_for_job(bot, cleo, ix, {"prompt": "a lake at dusk --ar 16:9", "zoom": "1.25"})
    assert job.kind is JobKind.ZOOM_OUT and job.edit is not None and job.edit.zoom == 1.25
    assert job.spec.prompt == "a lake at dusk" and job.spec.negative_prompt == ""
    assert job.edit.aspect_ratio == "11:6" and job.spec.aspect_ratio == job.edit.aspect_ratio  # ≈ 16:9
    result = await result_of(bot, job.id)
    assert "(Zoom Out 1.25x)" in result["content"] and button_rows(result) == GRID_ROWS
    assert standin.violations == []


async def test_vary_region_picker_toggles_submits_and_cancels(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    dora = standin.add_member("dora")
    _grid, source = await upscaled(bot, dora, "a garden --ar 3:2")
    count = len(await jobs_of(bot, dora))

    opened = await standin.press(dora, source, label="Vary (Region)")
    picker = await opened.wait_message(lambda m: bool(m["components"]), 5)
    assert picker["flags"] & EPHEMERAL and (await opened.wait_ack(5)).elapsed < 3
    assert button_rows(picker) == [CELLS[0:3], CELLS[3:6], CELLS[6:9], ["Submit", "Cancel"]]
    assert {button(picker, c)["style"] for c in CELLS} == {2}

    text = await private_reply(await standin.press(dora, picker, label="Submit"))
    assert "Choose at least one part" in text
    await nothing_new(bot, dora, count, count)

    for cell in ("Top left", "Centre", "Bottom right", "Centre"):  # Centre on, then off again
        toggle = await standin.press(dora, picker, label=cell)
        ack = await toggle.wait_ack(5)
        assert ack.type == UPDATE_MESSAGE and ack.elapsed < 3
    picker = standin.message(picker["id"])  # redrawn in place
    chosen = {c for c in CELLS if button(picker, c)["style"] != 2}
    assert chosen == {"Top left", "Bottom right"} and "2 of 9" in picker["content"]

    ask = await opened_modal(bot, dora, picker, "Submit")
    assert modal_fields(ask) == {"prompt": "a garden"}
    job = await submit_for_job(bot, dora, ask, {"prompt": "a garden with a pond"})
    assert job.kind is JobKind.VARY_REGION and job.spec.prompt == "a garden with a pond"
    assert job.edit == vary_region(WIDE, [cell_region(0), cell_region(8)])
    result = await result_of(bot, job.id)
    assert "(Vary (Region))" in result["content"] and button_rows(result) == GRID_ROWS
    assert attachment_size(result) == (2 * WIDE[0], 2 * WIDE[1])

    another = await standin.press(dora, source, label="Vary (Region)")
    picker = await another.wait_message(lambda m: bool(m["components"]), 5)
    cancel = await standin.press(dora, picker, label="Cancel")
    assert (await cancel.wait_ack(5)).type == UPDATE_MESSAGE
    closed = standin.message(picker["id"])
    assert closed["components"] == [] and "cancelled" in closed["content"]
    assert len(await jobs_of(bot, dora)) == count + 1
    assert standin.violations == []


async def test_remix_mode_asks_for_the_prompt_first(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    eve = standin.add_member("eve")
    grid, source = await upscaled(bot, eve, "a cat on a roof --ar 3:2")
    text = await private_reply(await standin.slash(eve, "settings", {"remix": True}))
    assert "Remix mode on" in text
    assert (await bot.queue.admission.get_settings(int(eve["id"]))).remix is True

    ask = await opened_modal(bot, eve, grid, "V2")
    assert modal_fields(ask) == {"prompt": "a cat on a roof"}
    job = await submit_for_job(bot, eve, ask, {"prompt": "a dog on a roof"})
    assert job.kind is JobKind.VARIATION and (job.parent_index, job.spec.prompt) == (2, "a dog on a roof")
    result = await result_of(bot, job.id)
    assert "a dog on a roof" in result["content"] and button_rows(result) == GRID_ROWS

    for label in ("🔄", "Vary (Strong)", "Zoom Out 1.5x", "⬇️"):
        await opened_modal(bot, eve, grid if label == "🔄" else source, label)
    ask = await opened_modal(bot, eve, source, "➡️")
    job = await submit_for_job(bot, eve, ask, {"prompt": "a cat on a bridge"})
    assert job.kind is JobKind.PAN and job.edit is not None and job.edit.action is EditAction.PAN_RIGHT
    assert job.spec.prompt == "a cat on a bridge"

    await private_reply(await standin.slash(eve, "settings", {"remix": False}))
    plain, _result = await press_for_job(bot, eve, grid, "V1")  # queued at once again
    assert plain.spec.prompt == "a cat on a roof"
    assert standin.violations == []


# -- persistence and refusals ----------------------------------------------------------------------------


async def test_edit_buttons_pickers_and_modals_survive_a_restart(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    finn = standin.add_member("finn")
    _grid, source = await upscaled(bot, finn, "an old mill --ar 3:2")
    zoom_modal = await opened_modal(bot, finn, source, "Custom Zoom")
    opened = await standin.press(finn, source, label="Vary (Region)")
    picker = await opened.wait_message(lambda m: bool(m["components"]), 5)
    await bot.shutdown()

    again = await start_bot(fake_bot_engine())
    zoom, zoomed = await press_for_job(again, finn, source, "Zoom Out 1.5x")
    assert zoom.kind is JobKind.ZOOM_OUT and zoom.edit is not None and zoom.edit.zoom == 1.5
    assert button_rows(zoomed) == GRID_ROWS

    custom = await submit_for_job(again, finn, zoom_modal, {"zoom": "1.5"})
    assert custom.kind is JobKind.ZOOM_OUT and custom.edit is not None and custom.edit.zoom == 1.5

    toggle = await standin.press(finn, picker, label="Top")
    assert (await toggle.wait_ack(5)).type == UPDATE_MESSAGE
    ask = await opened_modal(again, finn, standin.message(picker["id"]), "Submit")
    region = await submit_for_job(again, finn, ask, {})
    assert region.kind is JobKind.VARY_REGION and region.edit == vary_region(WIDE, [cell_region(1)])
    await result_of(again, region.id)
    assert standin.violations == []


async def test_edit_buttons_of_another_guilds_image_are_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    b = standin.add_guild("other server")
    bot = await start_bot(fake_bot_engine(), discord={"guild_ids": [int(standin.guild_id), int(b["id"])]})
    gus = standin.add_member("gus")
    standin.join(gus, b["id"])
    _grid, source = await upscaled(bot, gus, "a harbour --ar 3:2")
    copy = standin._world.create_message(
        b["channel_id"], {"content": "copied", "components": source["components"]}, []
    )
    count = len(await jobs_of(bot, gus))
    for label in ("Zoom Out 2x", "Upscale (Creative)", "Custom Zoom", "Vary (Region)", "⬆️"):
        press = await standin.press(gus, copy, label=label)
        reply = await press.wait_message(lambda m: True, 5)
        assert "made elsewhere" in reply["content"] and reply["flags"] & EPHEMERAL, label
        assert press.modal is None
    await nothing_new(bot, gus, count, count)
    assert standin.violations == []


async def test_forged_edit_buttons_are_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """Edit actions on a grid, grid actions on an upscale, unknown jobs and masks: refused, nothing queued."""
    bot = await start_bot(fake_bot_engine())
    ida = standin.add_member("ida")
    grid, source = await upscaled(bot, ida, "a windmill --ar 3:2")
    grid_id, up_id = grid["nonce"], source["nonce"]
    forged = [f"ib:z2:{grid_id}:1", f"ib:us:{grid_id}:1", f"ib:vreg:{grid_id}:1", f"ib:zc:{grid_id}:1",
              f"ib:u:{up_id}:1", f"ib:pl:{up_id}:2", "ib:sq:doesNotExist1:1", "ib:rgs:doesNotExist1:5"]
    components = [{"type": 1, "components": [
        {"type": 2, "style": 2, "label": f"B{n}", "custom_id": cid} for n, cid in enumerate(forged[k:k + 4])
    ]} for k in (0, 4)]
    message = standin._world.create_message(
        standin.channel_id, {"content": "forged", "components": components}, []
    )
    for cid in forged:
        press = await standin.press(ida, message, custom_id=cid)
        text = await private_reply(press)
        assert "doesn't belong to an image this bot knows" in text, (cid, text)
        assert press.modal is None
    await nothing_new(bot, ida, 2, 2)
    assert standin.violations == []


async def test_an_upscale_past_4096_px_and_a_pan_past_4_to_1_are_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """A 2100×525 upscaled image (made directly through the queue, as a worker would): Upscale (Subtle)
    would make it 4200 px wide, and ⬅️ would make a 4:1 image 6:1."""
    bot = await start_bot(fake_bot_engine(), queue={"embedded_worker": False})
    hal = standin.add_member("hal")
    [spec] = parse_prompt("a long train --ar 4:1", ParserLimits(base_resolution=128, steps=TINY_STEPS))
    where = DeliveryTarget(guild_id=int(standin.guild_id), channel_id=int(standin.channel_id))
    [grid] = await bot.queue.admission.enqueue(int(hal["id"]), [spec], model=FAKE_MODEL, delivery=where)
    await _generate(bot, grid.id, (spec.width, spec.height), 4)
    [up] = await bot.queue.admission.enqueue(int(hal["id"]), [spec], kind=JobKind.UPSCALE, model=FAKE_MODEL,
                                             parent=ImageRef(grid.id, 1), delivery=where)
    await _generate(bot, up.id, (2100, 525), 1)
    source = await result_of(bot, up.id)
    assert button_rows(source) == EDIT_ROWS and attachment_size(source) == (2100, 525)

    text = await private_reply(await standin.press(hal, source, label="Upscale (Subtle)"))
    assert text.startswith("⚠️ Upscale (Subtle):") and "4200×1050" in text and "4096 px" in text, text
    text = await private_reply(await standin.press(hal, source, label="⬅️"))
    assert text.startswith("⚠️ Pan ⬅️:") and "wider than 4:1" in text, text
    await nothing_new(bot, hal, 2, 2)
    assert standin.violations == []


async def _generate(bot: RunningBot, job_id: str, size: tuple[int, int], images: int) -> None:
    """Claim the job as a worker would and finish it with `images` solid PNGs of `size`."""
    [claimed] = await bot.queue.lifecycle.claim("test-worker", model=FAKE_MODEL, max_images=4)
    assert claimed.id == job_id
    pngs = [solid_png(*size, (40 * k, 90, 160)) for k in range(images)]
    won = await bot.queue.lifecycle.complete_many("test-worker", [GenResult(job_id, pngs, *size)])
    assert won == {job_id}


async def test_buttons_of_a_pruned_image_say_it_was_deleted(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """Once retention deleted a job's images, its U/V and edit buttons say so; nothing is charged."""
    bot = await start_bot(fake_bot_engine(), storage={"keep_days": 7})
    ivy = standin.add_member("ivy")
    grid, upscale = await upscaled(bot, ivy, "a quiet harbour")
    report = await bot.queue.retention.prune(7, now=datetime.now(UTC) + timedelta(days=8))
    assert report.jobs == 2  # the grid and its upscale
    count = len(await jobs_of(bot, ivy))
    for message, label in ((grid, "U2"), (grid, "V1"), (upscale, "Zoom Out 2x")):
        press = await standin.press(ivy, message, label=label)
        reply = await press.wait_message(lambda m: True, 5)
        assert "deleted after 7 days" in reply["content"] and reply["flags"] & EPHEMERAL, label
    await nothing_new(bot, ivy, count, count)
