"""The prompt language, table by table: parameters, errors, weights, permutations, defaults, sizes."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import pytest
from interface_examples import INTERFACE_JOB
from prompt_render import render_prompt

from imaginebot.core.catalogue import Catalogue, CatalogueModel, DraftProfile
from imaginebot.core.config import load_settings
from imaginebot.core.domain import JobSpec, LoraRef, PromptPart, UserDefaults
from imaginebot.core.prompt import (
    ParserLimits,
    PromptError,
    dimensions,
    guidance_for_stylize,
    parse_prompt,
    steps_for_quality,
)
from imaginebot.core.prompt_messages import PARAMETERS, known_parameters

KNOWN = (
    "use --ar, --seed, --no, --chaos, --stylize, --quality, --stop, --tile, --repeat, "
    "--model, --niji, --draft or another Midjourney parameter like --v or --p"
)
AR_USE = "use two whole numbers from 1:4 to 4:1, like --ar 16:9"
SEED_USE = "a whole number from 0 to 4294967295"
Q_USE = ".25, .5, 1, 2 or 4"


def one(text: str, limits: ParserLimits | None = None, defaults: UserDefaults | None = None) -> JobSpec:
    jobs = parse_prompt(text, limits or ParserLimits(), defaults)
    assert len(jobs) == 1, jobs
    return jobs[0]


def error_of(text: str, limits: ParserLimits | None = None, defaults: UserDefaults | None = None) -> str:
    with pytest.raises(PromptError) as info:
        parse_prompt(text, limits or ParserLimits(), defaults)
    return str(info.value)


# --- the documented example ----------------------------------------------------------------------


def test_interface_example() -> None:
    spec = one("a red fox in snow --ar 3:2 --seed 42")
    assert ParserLimits().job_json(spec) == INTERFACE_JOB
    assert spec.to_json() == {**INTERFACE_JOB, "model": ""}  # "" in the spec: the configured default


def test_plain_text_gets_every_default() -> None:
    assert one("a fox") == JobSpec(
        prompt="a fox",
        weights=(PromptPart("a fox", 1.0),),
        aspect_ratio="1:1",
        width=512,
        height=512,
    )


# --- every parameter and alias, at both edges ---------------------------------------------------

ACCEPTED = [
    ("--ar 3:2", "aspect_ratio", "3:2"),
    ("--aspect 3:2", "aspect_ratio", "3:2"),
    ("--AR 6:4", "aspect_ratio", "3:2"),
    ("--ar 1:4", "aspect_ratio", "1:4"),
    ("--ar 4:1", "aspect_ratio", "4:1"),
    ("--ar 100:25", "aspect_ratio", "4:1"),
    ("--ar 25:100", "aspect_ratio", "1:4"),
    ("--ar 16:9", "aspect_ratio", "16:9"),
    ("--ar 1920:1080", "aspect_ratio", "16:9"),
    ("--ar 7:7", "aspect_ratio", "1:1"),
    ("--seed 0", "seed", 0),
    ("--seed 4294967295", "seed", 4294967295),
    ("--seed 007", "seed", 7),
    ("--Seed 12", "seed", 12),
    ("--chaos 0", "chaos", 0),
    ("--chaos 100", "chaos", 100),
    ("--c 55", "chaos", 55),
    ("--stylize 0", "stylize", 0),
    ("--stylize 1000", "stylize", 1000),
    ("--s 250", "stylize", 250),
    ("--quality .25", "quality", 0.25),
    ("--quality 0.25", "quality", 0.25),
    ("--quality .5", "quality", 0.5),
    ("--quality 0.5", "quality", 0.5),
    ("--quality 1", "quality", 1.0),
    ("--quality 1.0", "quality", 1.0),
    ("--quality 1.", "quality", 1.0),
    ("--quality 2", "quality", 2.0),
    ("--q 4", "quality", 4.0),
    ("--q 4.0", "quality", 4.0),
    ("--q .5", "quality", 0.5),
    ("--Q 0.50", "quality", 0.5),
    ("--stop 10", "stop", 10),
    ("--stop 100", "stop", 100),
    ("--stop 55", "stop", 55),
    ("--tile", "tile", True),
    ("--TILE", "tile", True),
    ("--no cats", "negative_prompt", "cats"),
]


@pytest.mark.parametrize(("params", "field", "expected"), ACCEPTED)
def test_parameter_accepted(params: str, field: str, expected: object) -> None:
    spec = one(f"a fox {params}")
    value = getattr(spec, field)
    assert value == expected and type(value) is type(expected)
    assert spec.prompt == "a fox"


@pytest.mark.parametrize(
    ("params", "count"),
    [("", 1), ("--repeat 1", 1), ("--repeat 4", 4), ("--r 2", 2), ("--R 3", 3)],
)
def test_repeat_accepted(params: str, count: int) -> None:
    jobs = parse_prompt(f"a fox {params}")
    assert len(jobs) == count and all(j == jobs[0] for j in jobs)


def test_quality_scales_steps() -> None:
    assert [one(f"x --q {q}").steps for q in ("1", ".5", ".25", "2", "4")] == [30, 15, 8, 60, 120]
    assert one("x --q .5", ParserLimits(steps=50)).steps == 25


def test_stylize_sets_guidance() -> None:
    assert [one(f"x --s {s}").guidance_scale for s in (0, 100, 1000)] == [9.0, 7.0, 3.0]


def test_all_parameters_together() -> None:
    spec = one("a fox --ar 16:9 --seed 5 --no snow --c 20 --s 300 --q .5 --stop 80 --tile")
    assert (spec.aspect_ratio, spec.width, spec.height) == ("16:9", 680, 384)
    assert (spec.seed, spec.negative_prompt, spec.chaos, spec.stylize) == (5, "snow", 20, 300)
    assert (spec.quality, spec.stop, spec.tile, spec.steps) == (0.5, 80, True, 15)
    assert spec.guidance_scale == round(7 - 4 * 200 / 900, 2)


def test_every_parameter_is_known() -> None:
    assert [p.name for p in PARAMETERS if p.listed] == [
        "ar",
        "seed",
        "no",
        "chaos",
        "stylize",
        "quality",
        "stop",
        "tile",
        "repeat",
        "model",
        "niji",
        "draft",
    ]
    assert "use " + known_parameters() == KNOWN


# --- every error message, exactly ---------------------------------------------------------------

ERRORS = [
    # aspect ratio
    ("a --ar 0:1", f"--ar 0:1 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar 1:0", f"--ar 1:0 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar 5:1", f"--ar 5:1 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar 1:5", f"--ar 1:5 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar 401:100", f"--ar 401:100 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar wide", f"--ar wide is not a valid aspect ratio: {AR_USE}"),
    ("a --ar 3:2:1", f"--ar 3:2:1 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar 1.5:1", f"--ar 1.5:1 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar -3:2", f"--ar -3:2 is not a valid aspect ratio: {AR_USE}"),
    ("a --ar 16 : 9", f"--ar 16 : 9 is not a valid aspect ratio: {AR_USE}"),
    ("a --aspect 9:1", f"--aspect 9:1 is not a valid aspect ratio: {AR_USE}"),
    # seed
    ("a --seed abc", f"--seed abc is not valid: use {SEED_USE}"),
    ("a --seed 1.5", f"--seed 1.5 is not valid: use {SEED_USE}"),
    ("a --seed 1 2", f"--seed 1 2 is not valid: use {SEED_USE}"),
    ("a --seed -1", f"--seed -1 is out of range: use {SEED_USE}"),
    ("a --seed 4294967296", f"--seed 4294967296 is out of range: use {SEED_USE}"),
    ("a --seed " + "9" * 50, f"--seed {'9' * 50} is out of range: use {SEED_USE}"),
    # chaos
    ("a --chaos 150", "--chaos 150 is out of range: use a whole number from 0 to 100"),
    ("a --chaos 101", "--chaos 101 is out of range: use a whole number from 0 to 100"),
    ("a --chaos -1", "--chaos -1 is out of range: use a whole number from 0 to 100"),
    ("a --c 101", "--c 101 is out of range: use a whole number from 0 to 100"),
    ("a --chaos lots", "--chaos lots is not valid: use a whole number from 0 to 100"),
    # stylize
    ("a --stylize 1001", "--stylize 1001 is out of range: use a whole number from 0 to 1000"),
    ("a --stylize -1", "--stylize -1 is out of range: use a whole number from 0 to 1000"),
    ("a --s 2000", "--s 2000 is out of range: use a whole number from 0 to 1000"),
    ("a --s 1e3", "--s 1e3 is not valid: use a whole number from 0 to 1000"),
    # quality
    ("a --quality 3", f"--quality 3 is not valid: use {Q_USE}"),
    ("a --quality 0", f"--quality 0 is not valid: use {Q_USE}"),
    ("a --quality .75", f"--quality .75 is not valid: use {Q_USE}"),
    ("a --quality high", f"--quality high is not valid: use {Q_USE}"),
    ("a --q 1 1", f"--q 1 1 is not valid: use {Q_USE}"),
    # stop
    ("a --stop 9", "--stop 9 is out of range: use a whole number from 10 to 100"),
    ("a --stop 101", "--stop 101 is out of range: use a whole number from 10 to 100"),
    ("a --stop half", "--stop half is not valid: use a whole number from 10 to 100"),
    # repeat
    ("a --repeat 9", "--repeat 9 is out of range: use a whole number from 1 to 4"),
    ("a --repeat 5", "--repeat 5 is out of range: use a whole number from 1 to 4"),
    ("a --repeat 0", "--repeat 0 is out of range: use a whole number from 1 to 4"),
    ("a --r 5", "--r 5 is out of range: use a whole number from 1 to 4"),
    ("a --repeat twice", "--repeat twice is not valid: use a whole number from 1 to 4"),
    # unknown parameters
    ("a --foo", f"--foo is not a known parameter: {KNOWN}"),
    ("a --foo 3", f"--foo is not a known parameter: {KNOWN}"),
    ("a --vv 6", f"--vv is not a known parameter: {KNOWN}"),
    ("a --ar16:9", f"--ar16:9 is not a known parameter: {KNOWN}"),
    (
        "a --ar 3:2 --niji",
        "--niji needs a model with the alias niji and there is none: use --model with one of tiny",
    ),
    ("a --ar 3:2 --niji six", "--niji six is not valid: use nothing, or a niji version number like 6"),
    ("a --draft", "--draft is not available for model tiny: it has no draft profile, leave out --draft"),
    ("a --model", "--model needs a value: the name or alias of a model"),
    ("a --model sdxl", "--model sdxl is not a known model: use one of tiny"),
    ("a --model tiny --model tiny", "--model is given twice"),
    # flags and missing values
    ("a --tile x", "--tile takes no value"),
    ("a --tile 1", "--tile takes no value"),
    ("a --seed", f"--seed needs a value: {SEED_USE}"),
    ("a --seed --tile", f"--seed needs a value: {SEED_USE}"),
    ("a --ar", "--ar needs a value: two whole numbers from 1:4 to 4:1, like --ar 16:9"),
    ("a --aspect", "--aspect needs a value: two whole numbers from 1:4 to 4:1, like --ar 16:9"),
    ("a --chaos", "--chaos needs a value: a whole number from 0 to 100"),
    ("a --c", "--c needs a value: a whole number from 0 to 100"),
    ("a --stylize", "--stylize needs a value: a whole number from 0 to 1000"),
    ("a --quality", f"--quality needs a value: {Q_USE}"),
    ("a --stop", "--stop needs a value: a whole number from 10 to 100"),
    ("a --repeat", "--repeat needs a value: a whole number from 1 to 4"),
    ("a --no", "--no needs a value: a comma-separated list of things to leave out, like --no text, people"),
    (
        "a --no , ,",
        "--no , , is not valid: use a comma-separated list of things to leave out, like --no text, people",
    ),
    # given twice
    ("a --seed 1 --seed 2", "--seed is given twice"),
    ("a --seed 1 --seed 1", "--seed is given twice"),
    ("a --s 1 --stylize 2", "--stylize is given twice"),
    ("a --ar 1:1 --aspect 1:1", "--ar is given twice"),
    ("a --tile --tile", "--tile is given twice"),
    ("a --v 6 --version 7", "--version is given twice"),
    ("a --r 1 --R 1", "--repeat is given twice"),
    # text
    ("", "the prompt has no text: describe the image before any parameters"),
    ("   ", "the prompt has no text: describe the image before any parameters"),
    ("--ar 3:2", "the prompt has no text: describe the image before any parameters"),
    ("  —seed 1", "the prompt has no text: describe the image before any parameters"),
    ("{,} --ar 3:2", "the prompt has no text: describe the image before any parameters"),
    (":: ::", "the prompt has no text: describe the image before any parameters"),
    # braces
    ("{a", "unbalanced { } in the prompt: close every { with }"),
    ("a}", "unbalanced { } in the prompt: close every { with }"),
    ("{a}}", "unbalanced { } in the prompt: close every { with }"),
    ("}{", "unbalanced { } in the prompt: close every { with }"),
    ("{a, {b} --ar 1:1", "unbalanced { } in the prompt: close every { with }"),
    # expansion cap
    ("{a,b}" * 5, "the prompt expands to 32 jobs, more than the 16 allowed: use fewer {…} options"),
    (
        "{" + ",".join("abcdefghijklmnopq") + "}",
        "the prompt expands to 17 jobs, more than the 16 allowed: use fewer {…} options",
    ),
    (
        "x {a,b,c,d,e} {1,2,3,4}",
        "the prompt expands to 20 jobs, more than the 16 allowed: use fewer {…} options",
    ),
    # weights
    ("::2 a", "::2 has no text before it"),
    ("a:: ::2", "::2 has no text before it"),
    ("a::-1 b::.5", "the :: weights add up to -0.5; their sum must be positive"),
    ("a::-0.5 b::-1", "the :: weights add up to -1.5; their sum must be positive"),
    ("a::-1", "the :: weights add up to -1; their sum must be positive"),
    ("a::0", "the :: weights add up to 0; their sum must be positive"),
    ("a::-1 b", "the :: weights add up to 0; their sum must be positive"),
    ("a::.1 b::.2 c::-.3", "the :: weights add up to 0; their sum must be positive"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_message(text: str, message: str) -> None:
    assert error_of(text) == message


def test_error_is_a_value_error_with_one_line() -> None:
    for text, _ in ERRORS:
        with pytest.raises(ValueError) as info:
            parse_prompt(text)
        assert "\n" not in str(info.value)


def test_repeat_range_follows_the_limit() -> None:
    limits = ParserLimits(max_repeat=2)
    assert error_of("a --repeat 3", limits) == "--repeat 3 is out of range: use a whole number from 1 to 2"
    assert error_of("a --repeat", limits) == "--repeat needs a value: a whole number from 1 to 2"
    assert len(parse_prompt("a --repeat 2", limits)) == 2


def test_long_values_are_shortened_in_messages() -> None:
    message = error_of("a --seed " + "x" * 500)
    assert len(message) < 150 and message.startswith("--seed xxxx") and "…" in message
    assert len(error_of("a --" + "q" * 500)) < 250


def test_first_error_left_to_right() -> None:
    assert error_of("a --seed x --chaos 500") == f"--seed x is not valid: use {SEED_USE}"
    assert error_of("a --chaos 500 --foo") == "--chaos 500 is out of range: use a whole number from 0 to 100"


# --- em dash, text and parameter boundaries -----------------------------------------------------


def test_em_dash_reads_as_double_dash_before_a_parameter_name() -> None:
    spec = one("a fox —ar 3:2 —seed 1 —no snow, ice —tile")
    assert (spec.aspect_ratio, spec.seed, spec.negative_prompt, spec.tile) == ("3:2", 1, "snow, ice", True)
    spec = one("a fox –ar 3:2 –s 750 —v 6")  # en dashes too
    assert (spec.prompt, spec.aspect_ratio, spec.stylize) == ("a fox", "3:2", 750)
    assert one("a fox —-ar 2:3").aspect_ratio == "2:3"


@pytest.mark.parametrize(
    "text",
    [
        "a fox — ar",
        "red—blue",
        "a —foo",
        "Paris — the city of light",
        "1920–1930 poster, art deco",
        "a fox—ar",
        "the end —artstation",
        "rock – n – roll",
    ],
)
def test_a_dash_in_ordinary_text_stays(text: str) -> None:
    assert one(text).prompt == " ".join(text.split())


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("  a   red\tfox \n in  snow ", "a red fox in snow"),
        ("a red-fox --ar 1:1", "a red-fox"),
        ("a -- b", "a -- b"),
        ("a --5 b", "a --5 b"),
        ("a--ar 3:2", "a--ar 3:2"),
        ("a —é b", "a —é b"),
        ("fox, snow, night", "fox, snow, night"),
        ("hot dog::1.5 food::-1 --ar 1:1", "hot dog::1.5 food::-1"),
        ("a   ::2   b", "a ::2 b"),
    ],
)
def test_prompt_text(text: str, prompt: str) -> None:
    assert one(text).prompt == prompt


def test_parameter_value_tokens_run_to_the_next_parameter() -> None:
    spec = one("a --no red cars, big  trucks --seed 3")
    assert spec.negative_prompt == "red cars, big trucks" and spec.seed == 3
    assert one("a --no x -- y --5").negative_prompt == "x -- y --5"


@pytest.mark.parametrize(
    ("params", "negative"),
    [
        ("--no cats", "cats"),
        ("--no cats, dogs", "cats, dogs"),
        ("--no cats,dogs", "cats, dogs"),
        ("--no ,cats,, dogs ,", "cats, dogs"),
        ("--no  red   cars ", "red cars"),
        ("--no a\\, b", "a, b"),
        ("--no ünïcode, 狐", "ünïcode, 狐"),
    ],
)
def test_no_lists(params: str, negative: str) -> None:
    assert one(f"a fox {params}").negative_prompt == negative


# --- weights ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a fox", [("a fox", 1.0)]),
        ("hot dog::1.5 food::-1", [("hot dog", 1.5), ("food", -1.0)]),
        ("a::2 b", [("a", 2.0), ("b", 1.0)]),
        ("a::2 b::3", [("a", 2.0), ("b", 3.0)]),
        ("a:: b", [("a", 1.0), ("b", 1.0)]),
        ("a::", [("a", 1.0)]),
        ("a::2", [("a", 2.0)]),
        ("a::.5 b::", [("a", 0.5), ("b", 1.0)]),
        ("a::-.5 b", [("a", -0.5), ("b", 1.0)]),
        ("a::2.::b", [("a", 2.0), ("b", 1.0)]),
        ("a::2::b", [("a", 2.0), ("b", 1.0)]),
        ("::a", [("a", 1.0)]),
        ("a::2x b", [("a", 2.0), ("x b", 1.0)]),
        ("a:: 2 b", [("a", 1.0), ("2 b", 1.0)]),
        ("a::-0 b", [("a", 0.0), ("b", 1.0)]),
        ("a:b::3 c", [("a:b", 3.0), ("c", 1.0)]),
        ("a:::3", [("a", 1.0), (":3", 1.0)]),
        ("big   red ::3 fox", [("big red", 3.0), ("fox", 1.0)]),
    ],
)
def test_weights(text: str, parts: list[tuple[str, float]]) -> None:
    spec = one(text)
    assert [(p.text, p.weight) for p in spec.weights] == parts
    assert all(type(p.weight) is float for p in spec.weights)
    assert str(spec.weights[0].weight) != "-0.0"


def test_weights_are_floats_in_json() -> None:
    assert one("a::2 b").to_json()["weights"] == [{"text": "a", "weight": 2.0}, {"text": "b", "weight": 1.0}]


def test_huge_weight_is_an_error() -> None:
    assert "is too large a weight" in error_of("a::" + "9" * 400 + " b")


# --- permutations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prompts"),
    [
        ("{red, blue} bird", ["red bird", "blue bird"]),
        ("{a, {b, c}} x", ["a x", "b x", "c x"]),
        ("{a,b} {c,d}", ["a c", "a d", "b c", "b d"]),
        ("{a,b}{c,d}", ["ac", "ad", "bc", "bd"]),
        ("{red,} bird", ["red bird", "bird"]),
        ("{, red} bird", ["bird", "red bird"]),
        ("{} bird", ["bird"]),
        ("{ big  fox }", ["big fox"]),
        ("a\\, b", ["a, b"]),
        ("{a\\, b, c} x", ["a, b x", "c x"]),
        ("{x {1,2}, y} z", ["x 1 z", "x 2 z", "y z"]),
        ("a \\b", ["a \\b"]),
        ("a\\", ["a\\"]),
        ("{" * 300 + "deep" + "}" * 300, ["deep"]),
    ],
)
def test_permutations(text: str, prompts: list[str]) -> None:
    assert [j.prompt for j in parse_prompt(text)] == prompts


def test_permutations_inside_parameters() -> None:
    jobs = parse_prompt("a fox --ar {1:1, 3:2}")
    assert [(j.aspect_ratio, j.width, j.height) for j in jobs] == [("1:1", 512, 512), ("3:2", 624, 416)]
    jobs = parse_prompt("a {fox --s 50, cat --s 500}")
    assert [(j.prompt, j.stylize) for j in jobs] == [("a fox", 50), ("a cat", 500)]
    jobs = parse_prompt("a fox --no {snow, rain\\, hail}")
    assert [j.negative_prompt for j in jobs] == ["snow", "rain, hail"]


def test_an_error_in_any_expansion_fails_the_prompt() -> None:
    assert error_of("a --chaos {5, 500}") == "--chaos 500 is out of range: use a whole number from 0 to 100"


def test_expansion_cap_and_order_with_repeat() -> None:
    text = "{" + ",".join("abcdefghijklmnop") + "}"
    assert len(parse_prompt(text)) == 16
    jobs = parse_prompt("{a, b} fox --repeat 2")
    assert [j.prompt for j in jobs] == ["a fox", "a fox", "b fox", "b fox"]
    jobs = parse_prompt("{a, b} {c, d} --r 3")
    assert [j.prompt for j in jobs] == [p for p in ("a c", "a d", "b c", "b d") for _ in range(3)]
    limits = ParserLimits(max_permutations=2)
    assert len(parse_prompt("{a,b} --r 4", limits)) == 8
    assert error_of("{a,b,c}", limits) == (
        "the prompt expands to 3 jobs, more than the 2 allowed: use fewer {…} options"
    )


def test_expansion_cap_is_counted_before_expanding() -> None:
    start = time.perf_counter()
    assert error_of("{a,b}" * 20) == (
        "the prompt expands to over a million jobs, more than the 16 allowed: use fewer {…} options"
    )
    assert "over a million" in error_of("{a,b,c,d,e,f,g,h,i,j}" * 400)
    assert error_of("{a,b}" * 10) == (
        "the prompt expands to 1024 jobs, more than the 16 allowed: use fewer {…} options"
    )
    assert time.perf_counter() - start < 1.0


# --- defaults -----------------------------------------------------------------------------------

DEFAULTS = UserDefaults(aspect_ratio="16:9", stylize=250, quality=0.5, chaos=10, stop=50, tile=True)


def test_defaults_apply_where_the_prompt_is_silent() -> None:
    spec = one("a fox", defaults=DEFAULTS)
    assert (spec.aspect_ratio, spec.width, spec.height) == ("16:9", 680, 384)
    assert (spec.stylize, spec.quality, spec.chaos, spec.stop, spec.tile) == (250, 0.5, 10, 50, True)
    assert (spec.steps, spec.guidance_scale) == (15, guidance_for_stylize(250))


def test_prompt_overrides_defaults() -> None:
    spec = one("a fox --ar 1:1 --s 0 --q 1 --c 0 --stop 100", defaults=DEFAULTS)
    assert (spec.aspect_ratio, spec.stylize, spec.quality, spec.chaos, spec.stop) == ("1:1", 0, 1.0, 0, 100)
    assert spec.tile is True  # --tile can only turn tiling on; the default stays
    assert (spec.steps, spec.guidance_scale) == (30, 9.0)


def test_partial_and_empty_defaults() -> None:
    assert one("a", defaults=UserDefaults()) == one("a")
    spec = one("a", defaults=UserDefaults(aspect_ratio="6:4"))
    assert (spec.aspect_ratio, spec.width, spec.height, spec.stylize) == ("3:2", 624, 416, 100)
    assert one("a", defaults=UserDefaults(tile=False)).tile is False
    assert one("a", defaults=UserDefaults(quality=0.25)).steps == 8


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        (UserDefaults(aspect_ratio="9:1"), f"--ar 9:1 is not a valid aspect ratio: {AR_USE}"),
        (UserDefaults(stylize=5000), "--stylize 5000 is out of range: use a whole number from 0 to 1000"),
        (UserDefaults(quality=0.3), f"--quality 0.3 is not valid: use {Q_USE}"),
    ],
)
def test_bad_defaults_are_reported(defaults: UserDefaults, message: str) -> None:
    assert error_of("a fox", defaults=defaults) == message


# --- sizes, guidance and steps ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "base", "size"),
    [
        ("3:2", 512, (624, 416)),
        ("2:3", 512, (416, 624)),
        ("1:1", 512, (512, 512)),
        ("4:1", 512, (1024, 256)),
        ("1:4", 512, (256, 1024)),
        ("16:9", 512, (680, 384)),
        ("9:16", 512, (384, 680)),
        ("1:1", 1024, (1024, 1024)),
        ("1:1", 768, (768, 768)),
        ("6:4", 512, (624, 416)),
    ],
)
def test_dimensions_examples(ratio: str, base: int, size: tuple[int, int]) -> None:
    assert dimensions(ratio, base) == size


RATIOS = sorted({(w, h) for w in range(1, 22) for h in range(1, 22) if w <= 4 * h and h <= 4 * w})


@pytest.mark.parametrize(("base", "tolerance"), [(256, 0.05), (512, 0.03), (768, 0.03), (1024, 0.03)])
def test_dimensions_for_many_ratios(base: int, tolerance: float) -> None:
    for w, h in RATIOS:
        width, height = dimensions(f"{w}:{h}", base)
        assert width % 8 == 0 and height % 8 == 0
        assert abs(width * height / base**2 - 1) < tolerance, (w, h, base, width, height)
        assert abs(math.log((width / height) / (w / h))) < 0.04, (w, h, base, width, height)


def test_dimensions_follow_the_base_resolution() -> None:
    assert one("a --ar 3:2", ParserLimits(base_resolution=1024)).width == dimensions("3:2", 1024)[0]
    assert dimensions("1:4", 8) == (8, 16)


def test_dimensions_rejects_bad_ratios() -> None:
    with pytest.raises(PromptError):
        dimensions("5:1", 512)


@pytest.mark.parametrize(
    ("stylize", "guidance"),
    [(0, 9.0), (1, 8.98), (50, 8.0), (100, 7.0), (101, 7.0), (325, 6.0), (550, 5.0), (775, 4.0), (1000, 3.0)],
)
def test_guidance_for_stylize(stylize: int, guidance: float) -> None:
    assert guidance_for_stylize(stylize) == guidance


def test_guidance_is_monotonic() -> None:
    values = [guidance_for_stylize(s) for s in range(1001)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert all(round(v, 2) == v for v in values)


@pytest.mark.parametrize(
    ("quality", "base", "steps"),
    [(1.0, 30, 30), (0.5, 30, 15), (0.25, 30, 8), (0.25, 1, 1), (0.5, 1, 1), (0.25, 50, 13), (1.0, 150, 150)],
)
def test_steps_for_quality(quality: float, base: int, steps: int) -> None:
    assert steps_for_quality(quality, base) == steps


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a red fox in snow --ar 3:2 --seed 42",
        "hot dog::1.5 food::-1 --no bun, ketchup --tile --q .25 --s 0",
        "a\\\\, b --c 100 --stop 10",
        "fox, snow --seed 0 --q .5",
    ],
)
def test_render_round_trips(text: str) -> None:
    for spec in parse_prompt(text):
        assert parse_prompt(render_prompt(spec)) == [spec]


def test_render_writes_every_parameter() -> None:
    rendered = render_prompt(one("a fox --ar 3:2 --seed 42 --no snow --tile --q .5"))
    assert rendered == (
        "a fox --no snow --ar 3:2 --seed 42 --chaos 0 --stylize 100 --quality .5 --stop 100 --tile"
    )


# --- limits from the configuration ---------------------------------------------------------------


def test_limits_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    config = tmp_path / "config.toml"
    config.write_text('[queue]\nmax_repeat = 3\nmax_permutations = 5\n[gen]\nsteps = 40\nmodel = "tiny"\n')
    limits = ParserLimits.from_settings(load_settings(config, environ={}))
    assert limits == ParserLimits(max_repeat=3, max_permutations=5, base_resolution=512, steps=40)
    env = {"IMAGINEBOT_GEN__BASE_RESOLUTION": "768"}
    assert ParserLimits.from_settings(load_settings(config, environ=env)).base_resolution == 768
    env = {"IMAGINEBOT_GEN__MODEL": "someone/cool-xl-model"}
    assert ParserLimits.from_settings(load_settings(config, environ=env)).base_resolution == 1024


# --- models, LoRAs and --draft --------------------------------------------------------------------


def _catalogue() -> Catalogue:
    models = {
        "tiny": CatalogueModel("tiny", "tiny", "sd15", 512),
        "anime": CatalogueModel(
            "anime",
            "/models/anime.safetensors",
            "sdxl",
            1024,
            aliases=("niji", "ani"),
            steps=20,
            guidance_scale=5.5,
            draft=DraftProfile(steps=4, guidance_scale=1.5, lora="lcm"),
        ),
        "flux": CatalogueModel("flux", "black-forest-labs/FLUX.1-schnell", "flux", 1024),
        "quick": CatalogueModel(
            "quick", "/models/quick", "sd15", 768, draft=DraftProfile(steps=2, guidance_scale=0.0)
        ),
        "lost": CatalogueModel("lost", "/models/lost", "sd15", 512, draft=DraftProfile(4, 1.0, "gone")),
    }
    loras = {name: Path(f"/loras/{name}.safetensors") for name in ("detail", "style", "ink", "lcm")}
    return Catalogue(models, "tiny", lora_files=loras)


MODELS = ParserLimits(catalogue=_catalogue())
LORA_RANGE = "W from -2 to 2"


def test_lora_tags_are_taken_out_in_order() -> None:
    spec = one("a <lora:detail> fox<lora:style:0.5>in snow <lora:ink:-2> --ar 3:2", MODELS)
    assert spec.prompt == "a fox in snow"
    assert spec.loras == (LoraRef("detail", 1.0), LoraRef("style", 0.5), LoraRef("ink", -2.0))
    assert spec.to_json()["loras"] == [
        {"name": "detail", "weight": 1.0},
        {"name": "style", "weight": 0.5},
        {"name": "ink", "weight": -2.0},
    ]
    assert one("<LORA:detail:2> fox <lora:detail:2.0>", MODELS).loras == (LoraRef("detail", 2.0),)
    assert one("fox <lora: style : .25 >", MODELS).loras == (LoraRef("style", 0.25),)
    assert one("fox <lora:style:-0>", MODELS).loras == (LoraRef("style", 0.0),)
    assert one("fox --no <lora:style> blur", MODELS).negative_prompt == "blur"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fox <lora:detail:2.5>", "<lora:detail:2.5> is out of range: use a lora weight from -2 to 2"),
        ("fox <lora:detail:-3>", "<lora:detail:-3> is out of range: use a lora weight from -2 to 2"),
        ("fox <lora:detail:abc>", "<lora:detail:abc> is not a valid lora tag: use <lora:NAME> or"),
        ("fox <lora:detail:1:2>", "<lora:detail:1:2> is not a valid lora tag"),
        ("fox <lora:>", "<lora:> is not a valid lora tag"),
        ("fox <lora:detail", "<lora:detail is not a valid lora tag"),
        ("fox <lora:detail:1e9>", "<lora:detail:1e9> is not a valid lora tag"),
        ("fox <lora:nope:0.5>", "<lora:nope> is not a known lora: use <lora:NAME:W> with NAME one of"),
        ("fox <lora:detail:1> <lora:detail:0.5>", "<lora:detail> is given twice with different weights"),
    ],
)
def test_lora_errors_name_the_tag_and_the_range(text: str, expected: str) -> None:
    message = error_of(text, MODELS)
    assert message.startswith(expected)
    assert "lora" in message and ("-2 to 2" in message)


def test_unknown_lora_lists_the_installed_ones() -> None:
    assert error_of("fox <lora:nope>", MODELS) == (
        f"<lora:nope> is not a known lora: use <lora:NAME:W> with NAME one of detail, style, ink, lcm and "
        f"{LORA_RANGE}"
    )
    assert "there is none" in error_of("fox <lora:nope>")


def test_at_most_max_loras_different_ones() -> None:
    limits = ParserLimits(max_loras=2, catalogue=_catalogue())
    assert len(one("fox <lora:detail> <lora:style> <lora:detail>", limits).loras) == 2
    assert error_of("fox <lora:detail> <lora:style> <lora:ink>", limits) == (
        "the prompt uses 3 different loras, more than the 2 allowed: use at most 2 <lora:NAME:W> tags "
        "(W from -2 to 2)"
    )
    off = ParserLimits(max_loras=0, catalogue=_catalogue())
    assert error_of("fox <lora:detail>", off).startswith("loras are turned off")


def test_a_lora_tag_belongs_to_its_permutation() -> None:
    jobs = parse_prompt("{<lora:detail:0.5>, plain} fox", MODELS)
    assert [(j.prompt, j.loras) for j in jobs] == [("fox", (LoraRef("detail", 0.5),)), ("plain fox", ())]
    jobs = parse_prompt("fox {<lora:detail>, <lora:style:-1>} --r 2", MODELS)
    assert [j.loras for j in jobs] == [(LoraRef("detail", 1.0),)] * 2 + [(LoraRef("style", -1.0),)] * 2


def test_model_by_name_alias_and_case_uses_its_settings() -> None:
    default = one("fox", MODELS)
    assert (default.model, default.steps, default.guidance_scale, default.width) == ("", 30, 7.0, 512)
    assert MODELS.model_of(default) == "tiny" and MODELS.job_json(default)["model"] == "tiny"
    assert one("fox --model tiny", MODELS).model == "tiny"
    for text in ("fox --model anime", "fox --model niji", "fox --model ANI", "fox --niji"):
        spec = one(text, MODELS)
        assert (spec.model, spec.steps, spec.guidance_scale, spec.width, spec.height) == (
            "anime",
            20,
            5.5,
            1024,
            1024,
        ), text
    spec = one("fox --model anime --q .5 --s 1000 --ar 2:1", MODELS)
    assert (spec.steps, spec.guidance_scale, spec.aspect_ratio) == (10, 3.0, "2:1")
    assert (spec.width, spec.height) == dimensions("2:1", 1024)
    assert one("fox --model anime", MODELS, UserDefaults(stylize=0)).guidance_scale == 9.0
    assert one("fox --model quick --ar 1:1", MODELS).width == 768
    jobs = parse_prompt("fox --model {anime, flux}", MODELS)
    assert [j.model for j in jobs] == ["anime", "flux"]
    assert one("fox --model ani", MODELS).to_json()["model"] == "anime"


def test_model_errors() -> None:
    known = "tiny, anime (alias niji, ani), flux, quick, lost"
    assert error_of("fox --model nope", MODELS) == f"--model nope is not a known model: use one of {known}"
    assert (
        error_of("fox --niji --model anime", MODELS)
        == "--model and --niji both choose the model: use one of them"
    )
    assert error_of("fox --niji") == (
        "--niji needs a model with the alias niji and there is none: use --model with one of tiny"
    )


def test_draft_uses_the_profile() -> None:
    spec = one("fox <lora:detail:0.5> --model anime --draft --s 1000", MODELS)
    assert (spec.draft, spec.steps, spec.guidance_scale) == (True, 4, 1.5)
    assert spec.loras == (LoraRef("detail", 0.5), LoraRef("lcm", 1.0))
    assert one("fox <lora:lcm:0.7> --niji --draft", MODELS).loras == (LoraRef("lcm", 0.7),)
    quick = one("fox --model quick --draft", MODELS)
    assert (quick.steps, quick.guidance_scale, quick.loras, quick.draft) == (2, 0.0, (), True)
    assert one("fox --model anime", MODELS).draft is False


def test_draft_errors() -> None:
    assert error_of("fox --draft", MODELS) == (
        "--draft is not available for model tiny: it has no draft profile, leave out --draft"
    )
    assert error_of("fox --model flux --draft", MODELS).startswith("--draft is not available for model flux")
    assert error_of("fox --model lost --draft", MODELS).startswith("<lora:gone> is not a known lora")


def test_flux_refuses_what_it_cannot_honour() -> None:
    spec = one("a fox in snow --model flux --ar 3:2", MODELS)
    assert (spec.width, spec.height) == dimensions("3:2", 1024, 16) == (1248, 832)  # ×16: 2×2 latent patches
    assert dimensions("3:2", 1024) == (1256, 840)  # what an SD model gets
    assert one("a fox --model flux --ar 16:9", MODELS).width % 16 == 0
    assert error_of("a fox --model flux --no snow", MODELS) == (
        "model flux (FLUX.1) does not support --no: leave out --no"
    )
    assert error_of("a fox::2 snow --model flux", MODELS) == (
        "model flux (FLUX.1) does not support :: weights: leave out :: weights"
    )
    assert one("a fox::2 snow --model anime --no rain", MODELS).negative_prompt == "rain"


def test_embeddings_are_refused_for_families_that_cannot_use_them() -> None:
    catalogue = _catalogue()
    catalogue.embedding_files["easyneg"] = Path("/embeddings/easyneg.pt")
    limits = ParserLimits(catalogue=catalogue)
    assert error_of("a fox, easyneg --model flux", limits) == (
        "model flux (FLUX.1) does not support the embedding easyneg: leave out the embedding easyneg"
    )
    assert one("a fox, easyneg --model anime", limits).prompt == "a fox, easyneg"
    assert one("a fox, easynegative --model flux", limits).prompt == "a fox, easynegative"  # another word


def test_limits_from_settings_build_the_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "detail.safetensors").write_bytes(b"x")
    (tmp_path / "config.toml").write_text(
        '[gen]\nmodel = "tiny"\nmax_loras = 1\nsteps = 24\n'
        '[models.tiny]\naliases = ["niji"]\nguidance_scale = 6.0\n',
        encoding="utf-8",
    )
    limits = ParserLimits.from_settings(load_settings(tmp_path / "config.toml", environ={}))
    assert (limits.max_loras, limits.steps, limits.base_resolution) == (1, 24, 512)
    spec = one("fox <lora:detail:0.3> --niji", limits)
    assert (spec.model, spec.loras, spec.steps, spec.guidance_scale) == (
        "tiny",
        (LoraRef("detail", 0.3),),
        24,
        6.0,
    )
