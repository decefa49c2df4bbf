"""/prefer through the Discord stand-in: custom options and the suffix change what /imagine queues, and bad
ones are refused with one private message, nothing stored."""

from __future__ import annotations

from typing import Any

from discord_standin import DiscordStandIn
from fixtures_bot import RunningBot, wait_until
from test_bot_commands import private_reply

from db.records import JobRecord
from imaginebot.core.domain import UserDefaults


async def newest_job(bot: RunningBot, user: dict[str, Any]) -> JobRecord:
    async def found() -> JobRecord | None:
        jobs = await bot.queue.reads.history(user=int(user["id"]), limit=1)
        return jobs[0] if jobs else None

    job: JobRecord = await wait_until(found, 10, "the job")
    return job


async def prefer(standin: DiscordStandIn, user: dict[str, Any], command: str,
                 options: dict[str, Any] | None = None) -> str:
    """`/prefer COMMAND` as `user`: its one private answer."""
    return await private_reply(await standin.slash(user, f"prefer {command}", options))


async def settings_of(bot: RunningBot, user: dict[str, Any]) -> UserDefaults:
    return await bot.queue.admission.get_settings(int(user["id"]))


async def test_custom_options_expand_in_imagine(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    ana = standin.add_member("ana")
    text = await prefer(standin, ana, "option set", {"name": "wide", "value": "--ar 21:9 --s 250"})
    assert "--wide" in text and "--ar 21:9 --s 250" in text
    text = await prefer(standin, ana, "option set", {"name": "epic", "value": "--wide --c 30"})
    assert "--epic" in text

    await bot.imagine(ana, "a red fox in snow --epic")
    job = await newest_job(bot, ana)
    spec = job.spec
    assert (spec.prompt, spec.aspect_ratio, spec.stylize, spec.chaos) == ("a red fox in snow", "7:3", 250, 30)
    assert "a red fox in snow" in standin.message(await bot.progress_id(ana))["content"]

    text = await prefer(standin, ana, "option list")
    assert "`--epic` → `--wide --c 30`" in text and "`--wide` → `--ar 21:9 --s 250`" in text
    typing = await standin.autocomplete(ana, "prefer option delete", {"name": "--W"}, focused="name")
    await typing.wait_ack(3)
    assert typing.autocomplete_choices == [{"name": "--wide", "value": "wide"}]
    # Midjourney's way to delete: set without a value.
    text = await prefer(standin, ana, "option set", {"name": "Epic"})
    assert "Deleted" in text and "--epic" in text
    assert (await settings_of(bot, ana)).options == {"wide": "--ar 21:9 --s 250"}
    text = await prefer(standin, ana, "option delete", {"name": "wide"})
    assert "Deleted" in text
    text = await prefer(standin, ana, "option list")
    assert "no custom options" in text
    # Someone else's options are theirs alone.
    ben = standin.add_member("ben")
    text = await private_reply(await standin.slash(ben, "imagine", {"prompt": "a fox --wide"}))
    assert "--wide" in text and "not a known parameter" in text
    assert standin.violations == []


async def test_the_suffix_is_appended_to_every_prompt(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine())
    cleo = standin.add_member("cleo")
    await private_reply(await standin.slash(cleo, "settings", {"stylize": 400}))
    text = await prefer(standin, cleo, "suffix", {"text": "oil painting --ar 16:9"})
    assert "oil painting --ar 16:9" in text and "every prompt" in text
    assert (await settings_of(bot, cleo)).stylize == 400  # the other settings stay
    await prefer(standin, cleo, "option set", {"name": "wide", "value": "--ar 21:9"})
    text = await private_reply(await standin.slash(cleo, "settings"))
    assert "--stylize 400" in text and "suffix `oil painting --ar 16:9`" in text and "1 custom option" in text
    await private_reply(await standin.slash(cleo, "settings", {"chaos": 10}))  # /settings keeps them
    assert (await settings_of(bot, cleo)).suffix == "oil painting --ar 16:9"

    await bot.imagine(cleo, "a lighthouse --s 50")
    job = await newest_job(bot, cleo)
    assert (job.spec.prompt, job.spec.aspect_ratio, job.spec.stylize) == ("a lighthouse oil painting", "16:9",
                                                                           50)
    await bot.imagine(cleo, "a harbour --ar 1:1")  # the prompt's own --ar wins over the suffix's
    job = await newest_job(bot, cleo)
    assert (job.spec.prompt, job.spec.aspect_ratio, job.spec.stylize, job.spec.chaos) == (
        "a harbour oil painting", "1:1", 400, 10)

    text = await prefer(standin, cleo, "suffix")
    assert "cleared" in text
    assert (await settings_of(bot, cleo)).suffix is None
    await bot.imagine(cleo, "a boat")
    assert (await newest_job(bot, cleo)).spec.prompt == "a boat"
    assert standin.violations == []


async def test_bad_preferences_are_refused_and_nothing_is_stored(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), moderation={"banned_words": ["dragon"]})
    dora = standin.add_member("dora")
    await prefer(standin, dora, "option set", {"name": "a", "value": "--tile"})
    await prefer(standin, dora, "option set", {"name": "b", "value": "--a --c 5"})
    await prefer(standin, dora, "suffix", {"text": "watercolour"})
    before = await settings_of(bot, dora)

    text = await prefer(standin, dora, "option set", {"name": "ar", "value": "--s 50"})
    assert "`--ar` is already a parameter" in text and "Nothing was changed" in text
    text = await prefer(standin, dora, "option set", {"name": "s", "value": "--c 5"})
    assert "`--s` is already a parameter" in text and "--stylize" in text
    text = await prefer(standin, dora, "option set", {"name": "a", "value": "--b"})
    assert "--a → --b → --a" in text and "Nothing was changed" in text
    text = await prefer(standin, dora, "option set", {"name": "c", "value": "--c"})
    assert "--c" in text and "Nothing was changed" in text  # `c` is --chaos's alias
    text = await prefer(standin, dora, "option set", {"name": "ultra", "value": "--ar 99:1"})
    assert "--ar 99:1 is not a valid aspect ratio" in text and "1:4" in text and "Nothing was changed" in text
    text = await prefer(standin, dora, "option set", {"name": "two words", "value": "--tile"})
    assert "cannot be an option name" in text
    text = await prefer(standin, dora, "suffix", {"text": "a very long suffix " * 120})
    assert "2279 characters long: at most 2000" in text and "Nothing was changed" in text
    text = await prefer(standin, dora, "suffix", {"text": "--chaos 500"})
    assert "--chaos 500 is out of range" in text and "Nothing was changed" in text
    text = await prefer(standin, dora, "option delete", {"name": "nope"})
    assert "no custom option `--nope`" in text
    # What every later prompt would contain is moderated like a prompt.
    text = await prefer(standin, dora, "suffix", {"text": "with a Dragon"})
    assert "banned word **dragon**" in text
    text = await prefer(standin, dora, "option set", {"name": "beast", "value": "dragon --tile"})
    assert "banned word **dragon**" in text

    assert await settings_of(bot, dora) == before
    await bot.imagine(dora, "a garden --b")
    job = await newest_job(bot, dora)
    assert (job.spec.prompt, job.spec.tile, job.spec.chaos) == ("a garden watercolour", True, 5)
    assert standin.violations == []


async def test_a_remix_gets_the_suffix_once(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """Remix (a button that re-runs a prompt) goes through the preferences too, without doubling them."""
    bot = await start_bot(fake_bot_engine())
    eve = standin.add_member("eve")
    await prefer(standin, eve, "suffix", {"text": "oil painting --no text"})
    await private_reply(await standin.slash(eve, "settings", {"remix": True}))
    await bot.imagine(eve, "a cat on a roof")
    grid = await bot.wait_result(lambda m: "a cat on a roof oil painting" in m["content"], timeout=20)

    for typed, expected in (("a cat on a roof oil painting --no text", "a cat on a roof oil painting"),
                            ("a dog on a roof", "a dog on a roof oil painting")):
        known = {j.id for j in await bot.queue.reads.history(user=int(eve["id"]))}
        ask = await standin.press(eve, grid, label="V1")
        await ask.wait_ack(5)
        assert ask.modal is not None
        fields = [c.get("value") for row in ask.modal["components"] for c in row["components"]]
        assert fields == ["a cat on a roof oil painting --no text"]
        await (await standin.submit_modal(eve, ask, {"prompt": typed})).wait_ack(5)

        async def new(known: set[str] = known) -> JobRecord | None:
            jobs = await bot.queue.reads.history(user=int(eve["id"]))
            return next((j for j in jobs if j.id not in known), None)

        job = await wait_until(new, 10, "the remixed job")
        assert (job.spec.prompt, job.spec.negative_prompt) == (expected, "text")
    assert standin.violations == []


async def test_a_word_banned_after_it_was_preferred_is_refused(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """Moderation reads the prompt as expanded: a suffix or option set before its word was banned."""
    op = standin.add_member("op")
    bot = await start_bot(fake_bot_engine(), admin={"user_ids": [int(op["id"])]})
    zed = standin.add_member("zed")
    await prefer(standin, zed, "suffix", {"text": "glowing lanterns"})
    await prefer(standin, zed, "option set", {"name": "spooky", "value": "with goblins"})
    await private_reply(await standin.slash(op, "admin words add", {"word": "lanterns"}))
    text = await private_reply(await standin.slash(zed, "imagine", {"prompt": "a quiet street"}))
    assert "banned word **lanterns**" in text
    await prefer(standin, zed, "suffix")  # cleared
    await private_reply(await standin.slash(op, "admin words add", {"word": "goblins"}))
    text = await private_reply(await standin.slash(zed, "imagine", {"prompt": "a quiet street --spooky"}))
    assert "banned word **goblins**" in text
    await bot.imagine(zed, "a quiet street")  # the unused option does not matter
    await bot.wait_result(timeout=15)
    assert len(await bot.queue.reads.history(user=int(zed["id"]))) == 1
    assert standin.violations == []


async def test_settings_style_is_what_a_bare_p_applies(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    bot = await start_bot(fake_bot_engine(), styles={"Noir": {"suffix": "film noir, high contrast"}})
    ada = standin.add_member("ada")
    await bot.imagine(ada, "a detective --p")
    job = await newest_job(bot, ada)
    assert job.spec.prompt == "a detective"
    assert job.spec.notes[0].startswith("--p: you have no personal style")

    text = await private_reply(await standin.slash(ada, "settings", {"style": "noir"}))
    assert "personal style **Noir**" in text
    await prefer(standin, ada, "suffix", {"text": "rain"})
    await bot.imagine(ada, "a detective at night --p")

    async def styled() -> JobRecord | None:
        job = await newest_job(bot, ada)
        return job if job.spec.prompt.startswith("a detective at night") else None

    job = await wait_until(styled, 10, "the styled job")
    assert job.spec.prompt == "a detective at night rain, film noir, high contrast" and job.spec.notes == ()

    text = await private_reply(await standin.slash(ada, "settings", {"style": "pastel"}))
    assert "style: `pastel` is not a style of this bot: use one of Noir, or none" in text
    assert (await settings_of(bot, ada)).style == "Noir"  # unchanged
    await private_reply(await standin.slash(ada, "settings", {"reset": True}))
    kept = await settings_of(bot, ada)
    assert kept.style is None and kept.suffix == "rain"  # /prefer's suffix is no setting: it stays
    assert standin.violations == []
