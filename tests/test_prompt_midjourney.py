"""Midjourney's parameters beyond the core table, today's and 2022's: each honoured where imaginebot can,
else accepted with a note; `::` weights read as Midjourney reads them; leading image URLs; dashes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from imaginebot.core.catalogue import Catalogue, CatalogueModel
from imaginebot.core.config import load_settings
from imaginebot.core.domain import JobSpec, LoraRef, UserDefaults
from imaginebot.core.prompt import ParserLimits, PersonalStyle, PromptError, parse_prompt


def one(text: str, limits: ParserLimits | None = None, defaults: UserDefaults | None = None) -> JobSpec:
    jobs = parse_prompt(text, limits or ParserLimits(), defaults)
    assert len(jobs) == 1, jobs
    return jobs[0]


def error_of(text: str, limits: ParserLimits | None = None) -> str:
    with pytest.raises(PromptError) as info:
        parse_prompt(text, limits or ParserLimits())
    return str(info.value)


def parts(spec: JobSpec) -> list[tuple[str, float]]:
    return [(p.text, p.weight) for p in spec.weights]


# --- :: weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lineart symmetry::2, 8K matte", [("lineart symmetry", 2.0), ("8K matte", 1.0)]),
        ("display::5, emoji::4, border::-8.99", [("display", 5.0), ("emoji", 4.0), ("border", -8.99)]),
        ("a fox::1.5; snow::0.5", [("a fox", 1.5), ("snow", 0.5)]),
        ("space ship::3,. retro", [("space ship", 3.0), (". retro", 1.0)]),
        ("a::2.5.3 b", [("a", 2.5), (".3 b", 1.0)]),
        ("a::2x b", [("a", 2.0), ("x b", 1.0)]),
        ("still life::2 painting::1,", [("still life", 2.0), ("painting", 1.0)]),
    ],
)
def test_the_number_right_after_the_colons_is_the_weight(
    text: str, expected: list[tuple[str, float]]
) -> None:
    spec = one(text)
    assert parts(spec) == expected
    assert spec.prompt == text  # the text keeps the weights as typed


def test_only_a_total_of_zero_or_less_is_refused() -> None:
    assert error_of("a::-2, b::1") == "the :: weights add up to -1; their sum must be positive"
    assert sum(w for _, w in parts(one("a::5, b::4, c::-8.99"))) > 0


# --- dashes -------------------------------------------------------------------------------------


def test_dashes_become_double_dashes_only_before_a_parameter_name() -> None:
    spec = one("city at night — neon, rain —ar 16:9 –v 6 —-s 250")
    assert spec.prompt == "city at night — neon, rain"
    assert (spec.aspect_ratio, spec.stylize) == ("16:9", 250)
    assert one("the years 1920–1930 —no text").prompt == "the years 1920–1930"


# --- leading image URLs -------------------------------------------------------------------------


def test_leading_image_urls_become_image_prompts() -> None:
    spec = one(
        "https://s.mj.run/AbC123xyz <https://cdn.discordapp.com/attachments/1/2/cat.png> a cat in a hat "
        "--iw 1.5"
    )
    assert spec.prompt == "a cat in a hat"
    assert spec.image_urls == (
        "https://s.mj.run/AbC123xyz",
        "https://cdn.discordapp.com/attachments/1/2/cat.png",
    )
    assert spec.iw == 1.5
    assert not any(n.startswith(("image prompt", "--iw")) for n in spec.notes)  # used: nothing to note


@pytest.mark.parametrize(
    "text",
    [
        "see https://example.com/a.png for a cat",  # not at the start
        "https://example.com/page a cat",  # not an image
    ],
)
def test_other_urls_stay_in_the_text(text: str) -> None:
    spec = one(text)
    assert spec.prompt == text and spec.image_urls == () and spec.notes == ()


def test_an_image_alone_has_no_text() -> None:
    assert error_of("https://example.com/a.jpg --ar 2:3").startswith("the prompt has only image URLs")


# --- today's parameters -------------------------------------------------------------------------


def test_quality_2_and_4_take_more_steps() -> None:
    assert [one(f"x --q {q}").steps for q in ("1", "2", "4")] == [30, 60, 120]
    assert one("x --q 2").notes == ()


def test_weird_is_read_as_more_chaos() -> None:
    spec = one("x --weird 1500 --c 10")
    assert (spec.weird, spec.chaos) == (1500, 60)
    assert spec.notes == (
        "--weird 1500: no separate weirdness here; the four images differ as with --chaos 60",
    )
    assert (one("x --w 3000").weird, one("x --w 3000").chaos) == (3000, 100)
    assert one("x --weird 0").notes == ()
    assert error_of("x --weird 3001") == "--weird 3001 is out of range: use a whole number from 0 to 3000"
    assert error_of("x --w 9000").startswith("--w 9000 is out of range: use a whole number from 0 to 3000")
    assert error_of("x --weird 5 --w 7") == "--weird is given twice"


def test_width_and_height_of_2022_are_an_aspect_ratio() -> None:
    spec = one("x --w 1920 --h 1080")
    assert (spec.aspect_ratio, spec.width, spec.height, spec.weird) == ("16:9", 680, 384, 0)
    assert spec.notes == ("--w 1920 --h 1080: a 2022 Midjourney size, read as --ar 16:9",)
    assert one("x --h 768").aspect_ratio == "2:3"  # 2022's width was 512
    spec = one("x --w 640 --h 384 --ar 1:1")
    assert spec.aspect_ratio == "1:1" and spec.notes == ("--w 640 --h 384: ignored, --ar sets the size",)
    assert error_of("x --w 2000 --h 300").startswith("--w 2000 --h 300 is not a valid size")
    assert error_of("x --h 20").startswith("--h 20 is out of range: use a whole number from 64 to 8192")


def test_no_given_twice_is_merged() -> None:
    assert one("x --no text --no people, frame").negative_prompt == "text, people, frame"


def test_version_uses_a_model_alias_where_the_operator_defines_one() -> None:
    spec = one("x --v 7")
    assert spec.model == "" and spec.notes == (
        "--v 7: no model here has the alias v7, so the usual model is used",
    )
    assert one("x --version 5.2").notes == (
        "--version 5.2: no model here has the alias v5.2, so the usual model is used",
    )
    models = {
        "tiny": CatalogueModel("tiny", "tiny", "sd15", 512),
        "big": CatalogueModel("big", "big", "sdxl", 1024, aliases=("v6", "v7")),
        "anime": CatalogueModel("anime", "anime", "sd15", 512, aliases=("niji6",)),
    }
    limits = ParserLimits(catalogue=Catalogue(models, "tiny"))
    assert (one("x --v 7", limits).model, one("x --v 7", limits).notes) == ("big", ())
    assert one("x --v 6.1", limits).model == "big"  # falls back to the major version's alias
    assert one("x --v 5", limits).model == ""
    assert one("x --niji 6", limits).model == "anime"
    spec = one("x --niji 5", limits)
    assert spec.model == "" and "no model here has the alias niji5 or niji" in spec.notes[0]
    assert one("x --model big --v 5", limits).notes == ("--v 5: ignored, --model chooses the model",)
    assert error_of("x --v 10") == "--v 10 is not valid: use a Midjourney version number like 6.1 or 7"
    assert error_of("x --niji").startswith("--niji needs a model with the alias niji")  # INTERFACE.md


@pytest.mark.parametrize(
    ("params", "note"),
    [
        ("--style raw", "--style raw: imaginebot has no separate raw mode"),
        ("--raw", "--raw: imaginebot has no separate raw mode"),
        ("--style 4b", "--style 4b: chose a look of an older Midjourney model, ignored"),
        ("--exp 25", "--exp 25: Midjourney's experimental aesthetics have no equivalent here, ignored"),
        ("--sv 4", "--sv 4: imaginebot has one style-reference method, ignored"),
        ("--cref https://x.io/c.png --cw 50", "--cref https://x.io/c.png: character references are not"),
        ("--oref https://x.io/o.png --ow 100", "--oref https://x.io/o.png: omni references are not"),
        ("--video", "--video: asks Midjourney for a video"),
        ("--motion high", "--motion high: a Midjourney video option"),
        ("--zoom 1.5", "--zoom 1.5: zooming out is done with the Zoom Out buttons"),
        ("--p", "--p: you have no personal style here, so nothing was added"),
        (
            "--profile 3tjdm2r",
            "--p 3tjdm2r: not a personal style of this bot (this bot defines none), ignored",
        ),
        ("--sw 300", "--sw 300: there is no --sref to weigh, ignored"),
        ("--iw 2", "--iw 2: there is no image prompt to weigh, ignored"),
    ],
)
def test_todays_parameters_are_noted(params: str, note: str) -> None:
    spec = one(f"a quiet lake {params}")
    assert spec.prompt == "a quiet lake"
    assert any(n.startswith(note) for n in spec.notes), spec.notes
    assert all("\n" not in n for n in spec.notes)


def test_style_references_are_kept_for_the_image_inputs() -> None:
    spec = one("a tower --sref https://x.io/a.png 1234567 --sw 250 --sref random")
    assert (spec.sref, spec.sw) == (("https://x.io/a.png", "1234567", "random"), 250)
    assert spec.notes == ()  # used: the bot fetches the links (see tests/test_bot_image_prompts.py)
    assert error_of("a --sw 1001") == "--sw 1001 is out of range: use a whole number from 0 to 1000"
    assert error_of("a --iw 3.5") == "--iw 3.5 is out of range: use a number from 0 to 3"
    assert error_of("a --iw") == "--iw needs a value: a number from 0 to 3"
    assert error_of("a --exp 101") == "--exp 101 is out of range: use a whole number from 0 to 100"
    assert error_of("a --style ra.w").startswith("--style ra.w is not valid: use raw, 4a, 4b, 4c,")
    assert (
        error_of("a --sref") == "--sref needs a value: image URLs or style codes, like --sref "
        "https://example.com/style.png"
    )


# --- the past -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "hd",
        "uplight",
        "upbeta",
        "upanime",
        "test",
        "testp",
        "creative",
        "beta",
        "vibe",
    ],
)
def test_past_flags_are_accepted_with_a_note(name: str) -> None:
    spec = one(f"a castle --{name} --ar 3:2")
    assert spec.aspect_ratio == "3:2" and len(spec.notes) == 1 and spec.notes[0].startswith(f"--{name}:")
    assert error_of(f"a castle --{name}x").startswith(f"--{name}x is not a known parameter")


@pytest.mark.parametrize("name", ["fast", "relax", "turbo"])
def test_speed_modes_choose_the_jobs_mode(name: str) -> None:
    spec = one(f"a castle --{name} --ar 3:2")
    assert (spec.mode, spec.aspect_ratio, spec.notes) == (name, "3:2", ())
    assert one("a castle", defaults=UserDefaults(mode="relax")).mode == "relax"
    assert one(f"a castle --{name}", defaults=UserDefaults(mode="relax")).mode == name
    assert one("a castle").mode == "fast"


def test_two_speed_modes_are_refused() -> None:
    assert error_of("a castle --relax --turbo") == (
        "--relax and --turbo: choose one speed mode (--fast, --relax or --turbo)"
    )


def test_wallpaper_and_sameseed() -> None:
    spec = one("a castle --wallpaper --sameseed 77")
    assert (spec.aspect_ratio, spec.seed) == ("16:9", 77)
    assert spec.notes == (
        "--wallpaper: a 2022 Midjourney size, read as --ar 16:9",
        "--sameseed 77: a 2022 Midjourney option, read as --seed 77",
    )
    assert one("a castle --wallpaper --ar 1:1").aspect_ratio == "1:1"
    assert one("a castle --sameseed 5 --seed 6").seed == 6


def test_truly_unknown_parameters_stay_errors() -> None:
    for name in ("--wings 3", "--upscale", "--hq", "--stylise 100"):
        assert error_of(f"a cat {name}").startswith(f"{name.split()[0]} is not a known parameter: use --ar")


def test_notes_follow_the_typed_order_and_survive_the_database_round_trip() -> None:
    spec = one("https://s.mj.run/x a cat --hd --v 7 --uplight --s 250")
    assert [n.split(":")[0] for n in spec.notes] == ["--hd", "--v 7", "--uplight"]
    data = spec.to_json()
    assert data["notes"] == list(spec.notes) and data["image_urls"] == ["https://s.mj.run/x"]
    assert JobSpec.from_json(data) == spec
    old_row = {k: v for k, v in data.items() if k not in ("notes", "image_urls", "iw", "sref", "sw", "weird")}
    assert JobSpec.from_json(old_row) == replace(spec, notes=(), image_urls=())


# --- personal styles ([styles.NAME]) ------------------------------------------------------------


def test_p_with_a_code_applies_a_configured_style(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "ink.safetensors").write_bytes(b"")
    (tmp_path / "config.toml").write_text(
        '[styles.inky]\nloras = { ink = 0.6 }\nsuffix = "ink wash, loose brush"\n', encoding="utf-8"
    )
    settings = load_settings(tmp_path / "config.toml", environ={})
    limits = ParserLimits(
        styles={"inky": PersonalStyle("inky", (LoraRef("ink", 0.6),), "ink wash, loose brush")}
    )
    assert ParserLimits.from_settings(settings).styles == limits.styles
    limits = ParserLimits.from_settings(settings)
    spec = one("a heron --p INKY", limits)
    assert spec.prompt == "a heron, ink wash, loose brush"
    assert spec.loras == (LoraRef("ink", 0.6),) and spec.notes == ()
    spec = one("a heron <lora:ink:0.2> --p inky m7abc", limits)
    assert spec.loras == (LoraRef("ink", 0.2),)  # the prompt's own tag keeps its weight
    assert spec.notes == ("--p m7abc: not a personal style of this bot (the styles here are inky), ignored",)
    assert one("a heron --p", limits, UserDefaults()).notes == (
        "--p: you have no personal style here, so nothing was added",
    )


def test_a_style_whose_lora_is_missing_is_an_error() -> None:
    limits = ParserLimits(styles={"s": PersonalStyle("s", (LoraRef("gone", 1.0),))})
    assert error_of("a --p s", limits).startswith("--p s uses <lora:gone>, which is not a known lora")


def test_cn_makes_cw_the_controlnet_weight() -> None:
    spec = one("a castle --cn canny --cw 1.5")
    assert (spec.cn, spec.cw, spec.notes) == ("canny", 1.5, ())
    assert (one("a castle --cn Depth").cn, one("a castle --cn depth").cw) == ("depth", 1.0)
    assert error_of("a castle --cn canny --cw 3") == (
        "--cw 3 is out of range: with --cn it is the ControlNet weight, from 0 to 2"
    )
    assert error_of("a castle --cn lineart").startswith("--cn lineart is not valid")
    alone = one("a castle --cw 50")  # without --cn: Midjourney's character weight, noted and ignored
    assert alone.cn == ""
    assert alone.notes == ("--cw 50: character references are not supported here, ignored",)
