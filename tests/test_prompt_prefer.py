"""/prefer in the prompt language: custom options and the suffix, and the checks that keep bad ones out."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imaginebot.core.domain import UserDefaults
from imaginebot.core.preferences import (
    OPTIONS_MAX,
    BadOptionName,
    BadValue,
    OptionLoop,
    ShadowsParameter,
    TooLong,
    TooManyOptions,
    UnknownOption,
    delete_option,
    set_option,
    set_suffix,
)
from imaginebot.core.prompt import ParserLimits, PromptError, parse_prompt
from imaginebot.core.prompt_prefer import EXPANDED_MAX, PROMPT_MAX, apply_preferences, expand_options

LIMITS = ParserLimits()
WIDE = UserDefaults(options={"wide": "--ar 21:9 --s 250"})


def one(text: str, defaults: UserDefaults) -> dict[str, object]:
    (spec,) = parse_prompt(text, LIMITS, defaults)
    return spec.to_json()


# --- applying them ----------------------------------------------------------------------------------


def test_an_option_expands_into_its_parameters() -> None:
    job = one("a red fox --wide", WIDE)
    assert (job["prompt"], job["aspect_ratio"], job["stylize"]) == ("a red fox", "7:3", 250)
    assert job == one("a red fox --ar 21:9 --s 250", UserDefaults())


def test_option_names_match_whatever_the_case_and_dash() -> None:
    assert one("a fox --WIDE", WIDE)["aspect_ratio"] == "7:3"
    assert one("a fox \u2014wide", WIDE)["aspect_ratio"] == "7:3"  # a phone's em dash


def test_options_use_other_options_and_work_inside_permutations() -> None:
    defaults = UserDefaults(options={"wide": "--ar 21:9", "epic": "--wide --c 40", "tall": "--ar 2:3"})
    epic = one("a fox --epic", defaults)
    assert (epic["aspect_ratio"], epic["chaos"]) == ("7:3", 40)
    jobs = parse_prompt("a fox {--wide, --tall}", LIMITS, defaults)
    assert [j.aspect_ratio for j in jobs] == ["7:3", "2:3"]


def test_an_option_value_gets_the_usual_checks() -> None:
    with pytest.raises(PromptError, match="--ar 99:1"):
        parse_prompt("a fox --bad", LIMITS, UserDefaults(options={"bad": "--ar 99:1"}))
    with pytest.raises(PromptError, match="--s"):
        parse_prompt("a fox --wide --s 50", LIMITS, WIDE)  # given twice, as if typed so


def test_a_stored_loop_is_an_error_naming_the_options() -> None:
    defaults = UserDefaults(options={"a": "--b", "b": "--d --s 5", "d": "--a"})
    with pytest.raises(PromptError, match="--a → --b → --d → --a"):
        parse_prompt("a fox --a", LIMITS, defaults)


def test_an_exponential_expansion_is_refused_not_built() -> None:
    options = {f"o{n}": f"--o{n + 1} --o{n + 1}" for n in range(40)}
    options["o40"] = "--tile"
    with pytest.raises(PromptError, match=f"at most {EXPANDED_MAX}"):
        apply_preferences("x --o0", UserDefaults(options=options))


def test_the_suffix_joins_the_text_and_the_parameters() -> None:
    defaults = UserDefaults(suffix="cinematic lighting --ar 16:9 --no text")
    job = one("a red fox --s 500 --no people", defaults)
    assert job["prompt"] == "a red fox cinematic lighting"
    assert (job["aspect_ratio"], job["stylize"], job["negative_prompt"]) == ("16:9", 500, "people, text")


def test_the_prompt_s_own_parameter_wins_over_the_suffix() -> None:
    defaults = UserDefaults(suffix="--ar 16:9 --s 750")
    job = one("a fox --aspect 2:3", defaults)
    assert (job["aspect_ratio"], job["stylize"]) == ("2:3", 750)


def test_the_suffix_may_use_custom_options() -> None:
    defaults = UserDefaults(options={"wide": "--ar 21:9"}, suffix="--wide")
    assert one("a fox", defaults)["aspect_ratio"] == "7:3"
    assert one("a fox --ar 1:1", defaults)["aspect_ratio"] == "1:1"


def test_a_remixed_prompt_does_not_get_the_suffix_twice() -> None:
    defaults = UserDefaults(suffix="oil painting --no text")
    first = parse_prompt("a fox", LIMITS, defaults)[0]
    again = parse_prompt(f"{first.prompt} --no {first.negative_prompt}", LIMITS, defaults)[0]
    assert (again.prompt, again.negative_prompt) == ("a fox oil painting", "text")


def test_no_preferences_leave_the_text_alone() -> None:
    text = "a  fox {red,  blue}\n--ar 3:2"
    assert apply_preferences(text, None) is text
    assert apply_preferences(text, UserDefaults(aspect_ratio="2:3")) is text


# --- changing them ----------------------------------------------------------------------------------


def test_set_option_stores_the_lower_case_name_and_keeps_the_rest() -> None:
    current = UserDefaults(aspect_ratio="3:2", suffix="4k")
    updated = set_option(current, "--Wide", "  --ar 21:9   --s 250 ", LIMITS)
    assert updated.options == {"wide": "--ar 21:9 --s 250"}
    assert (updated.aspect_ratio, updated.suffix) == ("3:2", "4k")


@pytest.mark.parametrize("name", ["ar", "AR", "s", "stylize", "no", "tile", "niji", "p", "fast", "relax"])
def test_a_name_that_shadows_a_parameter_is_refused(name: str) -> None:
    with pytest.raises(ShadowsParameter) as err:
        set_option(UserDefaults(), name, "--tile", LIMITS)
    assert err.value.name == name.lower()


@pytest.mark.parametrize("name", ["", "two words", "1x", "-x", "a_b", "é", "x" * 33, "a,b"])
def test_a_name_that_is_no_simple_word_is_refused(name: str) -> None:
    with pytest.raises(BadOptionName):
        set_option(UserDefaults(), name, "--tile", LIMITS)


def test_a_loop_is_refused_at_set_time_naming_the_loop() -> None:
    with pytest.raises(OptionLoop) as err:
        set_option(UserDefaults(), "me", "--me --tile", LIMITS)
    assert err.value.loop == ("me",)
    current = set_option(set_option(UserDefaults(), "a", "--tile", LIMITS), "b", "--a", LIMITS)
    with pytest.raises(OptionLoop) as err:
        set_option(current, "a", "--b", LIMITS)
    assert err.value.loop == ("a", "b")


def test_a_bad_value_is_refused_with_the_parser_s_message() -> None:
    with pytest.raises(BadValue) as err:
        set_option(UserDefaults(), "wide", "--ar 99:1", LIMITS)
    assert "--ar 99:1" in err.value.reason and "1:4" in err.value.reason
    with pytest.raises(BadValue) as err:
        set_option(UserDefaults(), "wide", "--nothing-like-this", LIMITS)
    assert "--nothing-like-this" in err.value.reason


def test_too_many_or_too_long_options_are_refused() -> None:
    current = UserDefaults(options={f"o{n}": "--tile" for n in range(OPTIONS_MAX)})
    with pytest.raises(TooManyOptions):
        set_option(current, "one-more", "--tile", LIMITS)
    assert set_option(current, "o1", "--c 5", LIMITS).options["o1"] == "--c 5"  # type: ignore[index]
    with pytest.raises(TooLong):
        set_option(UserDefaults(), "long", "--no " + "x" * PROMPT_MAX, LIMITS)


def test_delete_option() -> None:
    assert delete_option(WIDE, "--Wide").options is None
    with pytest.raises(UnknownOption):
        delete_option(WIDE, "tall")


def test_set_suffix_checks_it_and_clears_it() -> None:
    assert set_suffix(UserDefaults(), "  --ar 16:9   --s 250 ", LIMITS).suffix == "--ar 16:9 --s 250"
    assert set_suffix(UserDefaults(suffix="x"), None, LIMITS).suffix is None
    assert set_suffix(UserDefaults(suffix="x"), "   ", LIMITS).suffix is None
    with pytest.raises(BadValue) as err:
        set_suffix(UserDefaults(), "--chaos 150", LIMITS)
    assert "--chaos 150" in err.value.reason
    with pytest.raises(TooLong) as long:
        set_suffix(UserDefaults(), "word " * 500, LIMITS)
    assert (long.value.length, long.value.limit) == (2499, PROMPT_MAX)
    assert set_suffix(WIDE, "--wide", LIMITS).suffix == "--wide"  # an option of the user's


# --- properties -------------------------------------------------------------------------------------

PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.sampled_from(["a", "b", "c", "wide", "x-y"])
PIECES = st.one_of(
    NAMES.map(lambda n: f"--{n}"),
    NAMES.map(lambda n: f"\u2014{n}"),
    st.sampled_from(["--tile", "--c 5", "--ar 2:3", "--no text", "{", "}", ",", "word", "--s", "--"]),
)
VALUES = st.lists(PIECES, max_size=4).map(" ".join)
OPTION_SETS = st.dictionaries(NAMES, VALUES, max_size=5)
TEXTS = st.lists(st.one_of(PIECES, st.sampled_from(["a fox", "  ", "\n", "é", "::2"])), max_size=8).map(
    "".join
)


@PROFILE
@given(options=OPTION_SETS, text=TEXTS, suffix=st.one_of(st.none(), VALUES))
def test_any_stored_preferences_expand_or_fail_cleanly(
    options: dict[str, str], text: str, suffix: str | None
) -> None:
    """Whatever is stored (even what set time would refuse), applying it ends: a text without any custom
    option left in it, or a PromptError — never a hang or another exception."""
    defaults = UserDefaults(options=options, suffix=suffix)
    try:
        out = apply_preferences(text, defaults)
    except PromptError as err:
        assert str(err)
        return
    assert len(out) <= EXPANDED_MAX
    assert expand_options(out, options) == out  # nothing left to expand
    try:
        parse_prompt(text, LIMITS, defaults)
    except PromptError:
        pass


@PROFILE
@given(options=OPTION_SETS, text=TEXTS, suffix=st.one_of(st.none(), VALUES))
def test_applying_the_preferences_twice_changes_nothing(
    options: dict[str, str], text: str, suffix: str | None
) -> None:
    defaults = UserDefaults(options=options, suffix=suffix)
    try:
        once = apply_preferences(text, defaults)
    except PromptError:
        return
    assert apply_preferences(once, defaults) == once


@PROFILE
@given(steps=st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_what_set_option_accepts_never_loops(steps: list[tuple[str, str]]) -> None:
    """Options kept by set_option (each checked when set) always expand: no loop can be built."""
    current = UserDefaults()
    for name, value in steps:
        try:
            current = set_option(current, name, value, LIMITS)
        except (OptionLoop, BadValue, ShadowsParameter, BadOptionName):
            continue
    for name in current.options or {}:
        expand_options(f"a fox --{name}", current.options or {})


def test_a_stored_option_never_hides_a_real_parameter() -> None:
    """Set time refuses such names; one stored anyway (e.g. before the parameter existed) is ignored."""
    job = one("a fox --ar 2:3 --Wide", UserDefaults(options={"ar": "--tile", "WIDE": "--c 7"}))
    assert (job["aspect_ratio"], job["tile"], job["chaos"]) == ("2:3", False, 7)
