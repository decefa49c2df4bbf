"""No traceback on any input, on Discord: every slash command and subcommand the bot registers, with
generated option values, through the Discord stand-in and the real bot (real discord.py, a real database,
the fake engine).

The commands are read from what the bot registered (`standin.commands`), so a command another engineer
adds is fuzzed without touching this file. Option values are what a real Discord client can send: Discord
enforces the declared types, choices, lengths and ranges itself (and so does the stand-in), so strings stay
within their length limits (6000 characters where none is declared), numbers within their declared range
(±2^53 otherwise), choices among their values; within that anything goes: unicode, mentions, markdown,
zero-width characters, numbers at and near the bounds, prompt parameters out of range, other members,
users who are not members, the bot itself, real and unknown job ids. Options with autocomplete are also
typed into (AUTOCOMPLETE interactions, where Discord sends any partial text unvalidated).

Each case is sent as one of three members (a plain one, a server manager, an operator) and must be
answered within Discord's rules (`standin.violations == []`), with a reply that carries neither a traceback
nor the bot's "something went wrong on our side" message; the bot must still be running at the end.

The cases are drawn by hypothesis up front (derandomized: the same cases every run, no shrinking), then
sent one after the other to a single bot, on SQLite and on PostgreSQL. Before them, each command gets two
fixed cases: every option at its longest / largest, then at its shortest / smallest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from discord_standin import DiscordStandIn, InteractionHandle
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.messages import internal_error

CASES_PER_COMMAND = 40
DISCORD_INT = 2**53  # Discord's integer and number options stay within ±2^53
DISCORD_STRING = 6000  # a string option's longest value
LOADING = 1 << 7  # a deferred answer ("… is thinking")
JOB_PLACEHOLDER = "<newest job>"  # replaced when sent by the id of the newest job in the database
INTERNAL = internal_error()

TEXTS = st.sampled_from(
    [
        "a red fox", "a red fox --ar 3:2 --seed 42", "a cat --ar 9:1", "a cat --ar 0:0", "x --seed -1",
        "x --seed 99999999999999999999", "x --stylize 1e309", "x --chaos nan", "x --q inf", "x --repeat 1000",
        "x --stop 0", "x --wings 3", "x --no", "x --", "— ar 2:1", "{a,b,c,d} {e,f,g,h} {i,j}", "a::-1 b::1",
        "a::0", "<lora:nope:9>", "x --model nope", "x --niji", "x --draft", "x --tile --tile", "3:2", "0:1",
        "1:0", "-1:-1", "99999999999999999999:1", "16:9", "sd15", "fast", "relax", "a", " ", "0", "-1",
        "@everyone", "@here", "<@1>", "<@&1>", "<#1>", "**bold** `code` ||spoiler||", "```\nblock\n```",
        "狐", "🦊" * 50, "é\u0301", "\u200b", "\u202eevil", "a\nb\nc", "\t", "\\", "%s %d {0}", "' OR 1=1 --",
        "x" * 100, "nul\x00in the middle", "word " * 400, "y" * DISCORD_STRING, JOB_PLACEHOLDER,
        "abcdef123456", "000000000000",
    ]
)
ANY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


def string_value(option: dict[str, Any]) -> st.SearchStrategy[str]:
    low = option.get("min_length") or 0
    high = min(option.get("max_length") or DISCORD_STRING, DISCORD_STRING)
    fit = st.one_of(TEXTS, ANY_TEXT).map(lambda s: s[:high])
    return fit.filter(lambda s: len(s) >= low) if low else fit


def number_value(option: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = option.get("min_value", -DISCORD_INT)
    high = option.get("max_value", DISCORD_INT)
    if option["type"] == 4:
        low, high = int(low), int(high)
        near = st.sampled_from([low, high, low + 1, high - 1, 0, 1]).filter(lambda v: low <= v <= high)
        return st.one_of(near, st.integers(low, high))
    edge = st.sampled_from([float(low), float(high), 0.0, 1e-9, 0.5]).filter(lambda v: low <= v <= high)
    return st.one_of(edge, st.floats(low, high, allow_nan=False, allow_infinity=False))


@dataclass
class People:
    """Who sends the commands, and whom their user options may name."""

    senders: dict[str, dict[str, Any]]
    users: list[dict[str, Any]] = field(default_factory=list)


def option_value(option: dict[str, Any], people: People, where: dict[str, str]) -> st.SearchStrategy[Any]:
    kind = option["type"]
    if option.get("choices"):
        return st.sampled_from([c["value"] for c in option["choices"]])
    if kind == 3:
        return string_value(option)
    if kind in (4, 10):
        return number_value(option)
    if kind == 5:
        return st.booleans()
    if kind in (6, 9):
        return st.sampled_from([u["id"] for u in people.users])
    if kind == 7:
        return st.just(where["channel_id"])
    if kind == 8:
        return st.just(where["guild_id"])  # the @everyone role
    if kind == 11:
        return st.builds(
            lambda name, size, ctype: {
                "id": "9" + str(size % 1000), "filename": name or "x", "size": size, "content_type": ctype,
                "url": f"http://127.0.0.1:9/{name}", "proxy_url": f"http://127.0.0.1:9/{name}",
            },
            st.sampled_from(["a.png", "b.jpg", "c.gif", "d.txt", "e", "狐.png"]),
            st.sampled_from([0, 1, 10 * 1024 * 1024, 10 * 1024 * 1024 + 1, 2**31]),
            st.sampled_from(["image/png", "image/jpeg", "text/plain", "application/octet-stream"]),
        )
    raise AssertionError(f"option type {kind} of {option['name']!r}: teach this fuzz how Discord sends it")


def leaf_commands(commands: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """("admin quota set", its options) for every command and subcommand a user can run."""
    found: list[tuple[str, list[dict[str, Any]]]] = []

    def walk(path: str, options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o["type"] in (1, 2)]
        if not subs:
            found.append((path, options))
        for sub in subs:
            walk(f"{path} {sub['name']}", sub.get("options") or [])

    for command in commands:
        if command.get("type", 1) == 1:
            walk(command["name"], command.get("options") or [])
    return found


@dataclass(frozen=True)
class Case:
    path: str
    sender: str
    options: dict[str, Any]
    focused: str | None = None  # an AUTOCOMPLETE interaction while typing this option


@st.composite
def cases(draw: st.DrawFn, path: str, declared: list[dict[str, Any]], people: People,
          where: dict[str, str]) -> Case:
    options: dict[str, Any] = {}
    for option in declared:
        if option.get("required") or draw(st.booleans()):
            options[option["name"]] = draw(option_value(option, people, where), label=option["name"])
    typing = [o["name"] for o in declared if o.get("autocomplete")]
    focused = draw(st.sampled_from([None, *typing])) if typing else None
    return Case(path, draw(st.sampled_from(sorted(people.senders))), options, focused)


def draw_cases(strategy: st.SearchStrategy[Case], count: int) -> list[Case]:
    """`count` cases (fewer when the strategy has fewer distinct ones), the same every run."""
    drawn: list[Case] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Case) -> None:
        drawn.append(case)

    collect()
    return drawn


def extreme_cases(path: str, declared: list[dict[str, Any]], people: People) -> list[Case]:
    """Every option given at once, at its longest / largest, then at its shortest / smallest (an operator
    sends them: every check passes, so the values reach the end of the command)."""
    made = []
    for end in ("max", "min"):
        options: dict[str, Any] = {}
        for option in declared:
            kind, name = option["type"], option["name"]
            if option.get("choices"):
                options[name] = option["choices"][-1 if end == "max" else 0]["value"]
            elif kind == 3:
                size = min(option.get("max_length") or DISCORD_STRING, DISCORD_STRING)
                shortest = "w" * (option.get("min_length") or 1)
                options[name] = "word " * (size // 5) if end == "max" else shortest
            elif kind in (4, 10):
                options[name] = option.get(f"{end}_value", DISCORD_INT if end == "max" else -DISCORD_INT)
            elif kind == 5:
                options[name] = end == "max"
            elif kind in (6, 9):
                options[name] = people.users[-1 if end == "max" else 0]["id"]
            elif kind == 11:  # a file at the size limits, on a host that does not answer
                size = 2**31 if end == "max" else 0
                options[name] = {
                    "id": "8" + str(size % 1000), "filename": f"{end}.png", "size": size,
                    "content_type": "image/png", "url": f"http://127.0.0.1:9/{end}.png",
                    "proxy_url": f"http://127.0.0.1:9/{end}.png",
                }
        made.append(Case(path, "operator", options))
    return made


def traceback_like(text: str) -> bool:
    return "Traceback" in text or INTERNAL in text or bool(re.search(r'File ".*", line \d+', text))


def message_text(message: dict[str, Any]) -> str:
    parts = [str(message.get("content") or "")]
    for embed in message.get("embeds") or []:
        parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
        parts += [f"{f.get('name')} {f.get('value')}" for f in embed.get("fields") or []]
    return "\n".join(parts)


async def send(standin: DiscordStandIn, case: Case, people: People, newest_job: str) -> InteractionHandle:
    options = {k: (newest_job if v == JOB_PLACEHOLDER else v) for k, v in case.options.items()}
    sender = people.senders[case.sender]
    if case.focused is not None:
        return await standin.autocomplete(sender, case.path, options, case.focused)
    return await standin.slash(sender, case.path, options)


async def check_answer(ix: InteractionHandle, case: Case) -> None:
    what = f"{case}"
    ack = await ix.wait_ack(10)  # the stand-in records a late or missing ack as a violation
    assert ack.accepted, what
    if case.focused is not None:
        assert ix.autocomplete_choices is not None, what
        for choice in ix.autocomplete_choices:
            assert not traceback_like(str(choice.get("name"))), what
        return
    answered = await ix.wait_message(lambda m: not m["flags"] & LOADING, 15)
    for message in [answered, *ix.messages()]:
        assert not traceback_like(message_text(message)), f"{what}\nanswer: {message_text(message)[:500]}"


async def test_every_slash_command_answers_any_options_without_a_traceback(
    standin: DiscordStandIn,
    start_bot: Callable[..., Any],
    fake_bot_engine: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    operator = standin.add_member("ophelia")
    bot = await start_bot(fake_bot_engine(), admin={"user_ids": [int(operator["id"])]},
                          quota={"daily_jobs": 1000, "max_queued": 1000})
    manager = standin.add_member("max", manage_guild=True)
    people = People({"member": standin.add_member("mel"), "manager": manager, "operator": operator})
    elsewhere = standin.add_guild("elsewhere")
    stranger = standin.add_member("stranger", guild_id=str(elsewhere["id"]))
    people.users = [*people.senders.values(), stranger, standin.bot_user]
    where = {"guild_id": standin.guild_id, "channel_id": standin.channel_id}
    leaves = leaf_commands(standin.commands(standin.guild_id))
    assert {"imagine", "info", "settings", "admin quota set"} <= {path for path, _ in leaves}

    for path, declared in leaves:
        drawn = draw_cases(cases(path, declared, people, where), CASES_PER_COMMAND)
        for case in [*extreme_cases(path, declared, people), *drawn]:
            jobs = await bot.queue.reads.history(limit=1)
            ix = await send(standin, case, people, jobs[0].id if jobs else "000000000000")
            await check_answer(ix, case)
            assert not bot.task.done(), f"the bot stopped after {case}"
    for message in standin.messages():
        assert not traceback_like(message_text(message)), message_text(message)[:500]
    assert not bot.task.done()
    assert [str(v) for v in standin.violations] == []
    # Nothing failed out of sight either (an exception logged, a message Discord refused).
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.name == "bot.replies"]
    assert failures == [], [r.getMessage()[:300] for r in failures]


async def test_a_nul_character_in_an_option_is_no_error(
    standin: DiscordStandIn, start_bot: Any, fake_bot_engine: Any
) -> None:
    """U+0000, which PostgreSQL cannot store, becomes U+FFFD before any command reads its options."""
    operator = standin.add_member("nul-op")
    bot = await start_bot(fake_bot_engine(), admin={"user_ids": [int(operator["id"])]})
    member = standin.add_member("nul-member")
    ix = await standin.slash(member, "imagine", {"prompt": "a red\x00 fox"})
    await ix.wait_ack(5)
    await bot.wait_result(timeout=20)
    [job] = await bot.queue.reads.history(user=int(member["id"]))
    assert job.spec.prompt == "a red\ufffd fox"
    ix = await standin.slash(operator, "admin ban", {"member": member, "reason": "spam\x00"})
    message = await ix.wait_message(None, 5)
    assert INTERNAL not in message["content"]
    assert (await bot.queue.reads.quota_info(int(member["id"]))).ban_reason == "spam\ufffd"
    assert standin.violations == []
