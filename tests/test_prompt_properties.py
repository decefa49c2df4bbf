"""Properties of the prompt parser: it never fails other than with PromptError, and rendering is stable."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prompt_render import render_prompt

from imaginebot.core.catalogue import Catalogue, CatalogueModel, DraftProfile
from imaginebot.core.domain import JobSpec, LoraRef, UserDefaults
from imaginebot.core.prompt import ParserLimits, PromptError, dimensions, parse_prompt

PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that matter to the grammar, mixed with ordinary and unusual text.
SPECIAL = st.sampled_from(
    [
        "-",
        "--",
        "—",
        "{",
        "}",
        ",",
        ":",
        "::",
        "\\",
        "\\,",
        " ",
        "  ",
        "\t",
        "\n",
        ".",
        "0",
        "2",
        "-1",
        "é",
        "狐",
        "🦊",
        "<",
        ">",
        "<lora:",
        "<lora:a>",
        "<lora:b:0.5>",
        "<lora:a:-3>",
    ]
)
PARAM_WORDS = st.sampled_from(
    [
        "--ar",
        "--aspect",
        "--seed",
        "--no",
        "--c",
        "--chaos",
        "--s",
        "--stylize",
        "--q",
        "--quality",
        "--stop",
        "--tile",
        "--repeat",
        "--r",
        "--foo",
        "—ar",
        "--AR",
        "3:2",
        "1:5",
        "42",
        ".5",
        "1000",
        "abc",
        "--model",
        "--niji",
        "--draft",
        "tiny",
        "flux",
        # Midjourney's other parameters, today's and 2022's
        "--v",
        "--version",
        "7",
        "6.1",
        "--w",
        "--h",
        "--weird",
        "1920",
        "--p",
        "--profile",
        "--sref",
        "--sw",
        "--iw",
        "--style",
        "raw",
        "--raw",
        "--hd",
        "--test",
        "--uplight",
        "--wallpaper",
        "--sameseed",
        "--exp",
        "42000",
        "–ar",
        "—v",
        "https://s.mj.run/x",
        "<https://cdn.discordapp.com/a.png>",
    ]
)
PIECES = st.one_of(st.text(max_size=8), SPECIAL, PARAM_WORDS)
ANY_TEXT = st.lists(PIECES, max_size=25).map("".join)
SPACED_TEXT = st.lists(PIECES, max_size=25).map(" ".join)


def _check(text: str, limits: ParserLimits) -> None:
    try:
        jobs = parse_prompt(text, limits)
    except PromptError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 400
        return
    assert isinstance(jobs, list) and jobs
    assert len(jobs) <= limits.max_permutations * limits.max_repeat
    for job in jobs:
        assert isinstance(job, JobSpec)
        assert job.prompt and job.prompt == " ".join(job.prompt.split())
        assert job.width % 8 == 0 and job.height % 8 == 0
        assert job.weights and sum(p.weight for p in job.weights) > 0
        assert all(math.isfinite(p.weight) for p in job.weights)
        assert all(note and "\n" not in note and len(note) < 400 for note in job.notes)
        assert 0 <= job.chaos <= 100 and 0 <= job.stylize <= 1000 and 0 <= job.weird <= 3000
        assert JobSpec.from_json(job.to_json()) == job


@PROFILE
@given(ANY_TEXT)
def test_any_text_parses_or_raises_prompt_error(text: str) -> None:
    _check(text, ParserLimits())


def _models() -> Catalogue:
    models = {
        "tiny": CatalogueModel(
            "tiny", "tiny", "sd15", 512, aliases=("niji",), draft=DraftProfile(4, 1.5, "b")
        ),
        "flux": CatalogueModel("flux", "flux", "flux", 1024),
    }
    return Catalogue(models, "tiny", lora_files={"a": Path("a.pt"), "b": Path("b.pt")})


MODEL_LIMITS = ParserLimits(max_loras=1, catalogue=_models())


@PROFILE
@given(ANY_TEXT)
def test_any_text_with_models_and_loras(text: str) -> None:
    _check(text, MODEL_LIMITS)
    try:
        jobs = parse_prompt(text, MODEL_LIMITS)
    except PromptError:
        return
    for job in jobs:
        assert job.model in ("", "tiny", "flux")
        assert "<lora:" not in job.prompt.lower()
        assert all(-2 <= ref.weight <= 2 and ref.name in ("a", "b") for ref in job.loras)
        assert len({ref.name for ref in job.loras}) == len(job.loras)


@PROFILE
@given(st.integers(-200, 200), st.lists(st.sampled_from(["red", "fox", "in", "snow"]), min_size=1))
def test_lora_weight_is_read_exactly(hundredths: int, words: list[str]) -> None:
    weight = f"{hundredths / 100:.2f}"
    spec = parse_prompt(f"{words[0]} <lora:a:{weight}> {' '.join(words[1:])}", MODEL_LIMITS)[0]
    assert spec.loras == (LoraRef("a", float(weight)),)
    assert spec.prompt == " ".join(words)


@PROFILE
@given(SPACED_TEXT, st.integers(1, 5), st.integers(1, 20))
def test_any_spaced_text_under_any_limits(text: str, max_repeat: int, max_permutations: int) -> None:
    _check(text, ParserLimits(max_repeat=max_repeat, max_permutations=max_permutations))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode(text: str) -> None:
    _check(text, ParserLimits())


# --- stability: parse(render(spec)) == [spec] ---------------------------------------------------

WORD = st.text(
    alphabet=st.characters(
        blacklist_categories=["Cs", "Zs", "Zl", "Zp", "Cc"], blacklist_characters="{}—,:-\\"
    ),
    min_size=1,
    max_size=8,
)
# Text that may hold commas, colons, dashes and backslashes, but is never mistaken for a parameter.
TEXT_WORD = st.one_of(
    WORD,
    WORD.map(lambda w: w + ","),
    st.just("\\,"),
    st.just("a\\\\,"),
    st.just("-"),
    st.just("--"),
    st.just("x:y"),
    st.just("—5"),
)
WEIGHT = st.one_of(st.none(), st.sampled_from(["2", "1.5", ".5", "-0.25", "0", "3."]))
RATIO = st.tuples(st.integers(1, 40), st.integers(1, 40)).filter(
    lambda r: r[0] <= 4 * r[1] and r[1] <= 4 * r[0]
)


@st.composite
def prompts(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        words = " ".join(draw(st.lists(TEXT_WORD, min_size=1, max_size=4)))
        weight = draw(WEIGHT)
        parts.append(words if weight is None else f"{words}::{weight}")
    text = " ".join(parts)
    params = []
    if draw(st.booleans()):
        w, h = draw(RATIO)
        params.append(f"{draw(st.sampled_from(['--ar', '--aspect']))} {w}:{h}")
    if draw(st.booleans()):
        params.append(f"--seed {draw(st.integers(0, 4_294_967_295))}")
    if draw(st.booleans()):
        items = draw(st.lists(st.lists(WORD, min_size=1, max_size=2).map(" ".join), min_size=1, max_size=3))
        params.append("--no " + ", ".join(items))
    if draw(st.booleans()):
        params.append(f"--chaos {draw(st.integers(0, 100))}")
    if draw(st.booleans()):
        params.append(f"--s {draw(st.integers(0, 1000))}")
    if draw(st.booleans()):
        params.append(f"--q {draw(st.sampled_from(['.25', '0.5', '1', '1.0']))}")
    if draw(st.booleans()):
        params.append(f"--stop {draw(st.integers(10, 100))}")
    if draw(st.booleans()):
        params.append("--tile")
    order = draw(st.permutations(params))
    return " ".join([text, *order])


DEFAULTS = st.builds(
    UserDefaults,
    aspect_ratio=st.one_of(st.none(), RATIO.map(lambda r: f"{r[0]}:{r[1]}")),
    stylize=st.one_of(st.none(), st.integers(0, 1000)),
    quality=st.one_of(st.none(), st.sampled_from([0.25, 0.5, 1.0])),
    chaos=st.one_of(st.none(), st.integers(0, 100)),
    stop=st.one_of(st.none(), st.integers(10, 100)),
    tile=st.one_of(st.none(), st.booleans()),
)


@PROFILE
@given(prompts(), DEFAULTS)
def test_render_then_parse_is_stable(text: str, defaults: UserDefaults) -> None:
    try:
        jobs = parse_prompt(text, defaults=defaults)
    except PromptError as exc:
        # Only the weights can make a generated prompt invalid (their sum may not be positive).
        assert "::" in str(exc), (text, str(exc))
        return
    assert len(jobs) == 1
    spec = jobs[0]
    assert parse_prompt(render_prompt(spec)) == [spec]
    assert parse_prompt(render_prompt(spec), defaults=defaults) == [spec]


@PROFILE
@given(RATIO, st.sampled_from([512, 768, 1024]))
def test_dimensions_keep_area_and_ratio(ratio: tuple[int, int], base: int) -> None:
    w, h = ratio
    width, height = dimensions(f"{w}:{h}", base)
    assert width % 8 == 0 and height % 8 == 0
    assert abs(width * height / base**2 - 1) < 0.03
    assert dimensions(f"{h}:{w}", base) == (height, width)
