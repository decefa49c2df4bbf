"""/models and /settings model: over the real bot and the Discord stand-in, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from discord_standin import DiscordStandIn
from fixtures_bot import wait_until
from test_bot_commands import private_reply


async def _count(bot: Any, member: dict[str, Any], n: int) -> bool:
    return len(await bot.queue.reads.history(user=int(member["id"]))) >= n


async def test_models_lists_the_catalogue_and_settings_picks_a_default_model(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any, tmp_path: Path
) -> None:
    loras = tmp_path / "loras"
    loras.mkdir()
    (loras / "ink_wash.safetensors").write_bytes(b"")  # listed by name; nothing loads it here
    engine = fake_bot_engine()
    bot = await start_bot(
        engine,
        gen={"models_dir": str(tmp_path / "no-models"), "loras_dir": str(loras)},
        models={"anime": {"path": "some/anime-ckpt", "aliases": ["niji"], "description": "*anime* style"}},
    )
    ivy = standin.add_member("ivy")
    listing = await private_reply(await standin.slash(ivy, "models"))
    assert f"**{engine.model_id}**" in listing and "*default*" in listing
    assert "**anime** (`--niji`)" in listing and r"\*anime\* style" in listing  # markdown shown as typed
    assert r"ink\_wash" in listing

    text = await private_reply(await standin.slash(ivy, "settings", {"model": "niji"}))
    assert "--model anime" in text
    refusal = await private_reply(await standin.slash(ivy, "settings", {"model": "nosuch"}))
    assert "nosuch" in refusal and "anime" in refusal
    assert (await bot.queue.admission.get_settings(int(ivy["id"]))).model == "anime"

    await standin.slash(ivy, "imagine", {"prompt": "a castle"})
    await wait_until(lambda: _count(bot, ivy, 1), 10, "the first job")
    await standin.slash(ivy, "imagine", {"prompt": f"a castle --model {engine.model_id}"})
    await wait_until(lambda: _count(bot, ivy, 2), 10, "the second job")
    newest, oldest = await bot.queue.reads.history(user=int(ivy["id"]))
    assert (oldest.model, newest.model) == ("anime", engine.model_id)  # the default, then the prompt's own
    assert standin.violations == []


async def test_a_broken_model_file_is_reported_at_start_up_and_the_others_still_work(
    standin: DiscordStandIn,
    start_bot: Any,
    fake_bot_engine: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "broken.safetensors").write_bytes(b"\xff" * 16)  # no readable header
    (models / "anime").mkdir()
    (models / "anime" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    caplog.set_level(logging.WARNING)
    await start_bot(fake_bot_engine(), gen={"models_dir": str(models)})
    assert "model catalogue: " in caplog.text and "broken.safetensors" in caplog.text
    listing = await private_reply(await standin.slash(standin.add_member("ivy"), "models"))
    assert "**anime**" in listing and "broken" not in listing
