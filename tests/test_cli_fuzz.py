"""No traceback on any input: every `imaginebot` command, fed generated arguments, ends with exit status 0, 1
or 2 and, when it fails, one clear line on stderr (or argparse's usage and its one error line).

The commands are found by walking `build_parser()`'s subparsers, so a new command is fuzzed without
touching this file. Each command gets `EXAMPLES` derandomized hypothesis cases, run in-process through
`imaginebot.app.cli.main` against a real migrated database (`--config`, SQLite and PostgreSQL for the
commands that open it; the others run once, on SQLite's configuration). The arguments mix valid-looking
values (ids, counts, choices, a real image file, the commands' own option names) with huge and negative
numbers, NaN and infinities, unicode, empty and very long strings, `-`-prefixed tokens, undecodable argv
bytes (as Python sees them: lone surrogates) and junk tokens.

What is not run for real, and why:
- `run`, `worker`, `web` serve until stopped: only their argument parsing is fuzzed
  (`build_parser().parse_args`, which must end in a Namespace or argparse's exit 2).
- `imagine` and `edit` generate: the configuration's `gen.model` is a folder that does not exist, so a
  run that gets past its validation fails fast at loading the model — which must be one clear line too.
- `make-tiny-model` writes into the test's temporary folder (the working directory); its `--shape`
  writer (gigabytes of random weights) is replaced by one that only makes the folder.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures_db import in_thread, open_queue, settings_for, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imaginebot.app.cli import as_text, build_parser, main
from imaginebot.core.domain import JobSpec

EXAMPLES = 80
SEEDED_JOB = "<job>"  # replaced by the id of a job in the test's database
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SERVE_FOREVER = {("run",), ("worker",), ("web",)}
NO_DATABASE = {("parse",), ("make-tiny-model",)}


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(command path, its parser) for every runnable command, e.g. (("admin", "quota", "set"), parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaves(sub, (*path, name))
            return
    yield path, parser


COMMANDS = dict(leaves(build_parser()))
DB_COMMANDS = sorted(p for p in COMMANDS if p not in SERVE_FOREVER | NO_DATABASE)

NUMBERS = st.sampled_from(
    [
        "0", "1", "3", "42", "-1", "-5", "+7", " 8 ", "1.5", "0.25", "2.0", "1e3", "1e309", "-1e309",
        "nan", "NaN", "inf", "-inf", "Infinity", "0x10", "1_000", "٣", "²", "9" * 20, "-" + "9" * 20,
        str(2**63 - 1), str(2**63), str(2**32), str(2**64), "4294967295", "100000", "100001",
        "0.25,0.25,0.75,0.75", "0,0,1,1", "1,1,0,0", "nan,0,1,1", "0.5,0.5,0.5,0.5", "1,2,3",
    ]
)
WORDS = st.sampled_from(
    [
        "", " ", "-", "--", "---", "-x", "--zzz", "-1", "-h", "--help", "=", "a=b", "base", "head", "heads",
        "0001", "abcdef123456", "000000000000", "a red fox --ar 3:2", "a cat --ar 9:1", "fox --seed -1",
        "fox --seed 99999999999999999999", "fox --repeat 1000", "{a,b,c,d,e,f} {g,h,i,j,k,l}", "a::-1",
        "--no", "fox --model nope", "<lora:x:9>", "fox —ar 2:1", "狐", "🦊🦊", "é\u0301", "a\nb",
        "\t", "\u200b", "\udcff", "\udce9t\udce9", "x" * 300, "y" * 5000, "..", "/", "/nonexistent/x",
        "src.png", "notes.txt", "sub", "out", "upscale", "zoom-out", "vary-region", "pan-left",
        "make-square", "sd15", "sdxl", "flux", "queued", "succeeded",
    ]
)
TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30
)
TOKEN = st.one_of(WORDS, NUMBERS, TEXT)
ALL_OPTIONS = sorted(
    {s for _, p in leaves(build_parser()) for a in p._actions for s in a.option_strings} - {"--config"}
)


# (never an empty or missing value: the defaults would generate with the real tiny model)
CONFIGS = st.sampled_from(["nope.toml", "sub", "notes.txt", "src.png", "x" * 300])
SMALL = st.integers(0, 3000).map(str)  # a valid id, count or limit, mostly


def value_for(action: argparse.Action) -> st.SearchStrategy[str]:
    """About half the values are valid, so that the commands themselves run, not only argparse."""
    if action.choices:
        choices = st.sampled_from([str(c) for c in action.choices])
        return st.one_of(choices, choices, TOKEN)
    if action.type is not None:
        return st.integers(0, 2).flatmap(lambda n: SMALL if n else st.one_of(NUMBERS, TOKEN))
    return st.one_of(TOKEN, st.just(SEEDED_JOB)) if action.dest in ("job", "source") else TOKEN


@st.composite
def argv_for(draw: st.DrawFn, parser: argparse.ArgumentParser) -> list[str]:
    """The command's positionals in order, some of its options (before or after them), maybe junk."""
    positionals: list[str] = []
    before: list[str] = []
    after: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if "--config" in action.option_strings:  # now and then, a second --config (the last one counts)
            if draw(st.integers(0, 7)) == 0:
                after += ["--config", draw(CONFIGS)]
            continue
        if action.option_strings:
            if draw(st.booleans()):
                group = [draw(st.sampled_from(action.option_strings))]
                if action.nargs != 0:
                    group.append(draw(value_for(action)))
                (before if draw(st.booleans()) else after).extend(group)
        elif action.nargs not in ("?", "*") or draw(st.booleans()):
            positionals.append(draw(value_for(action)))
    junk = draw(st.lists(st.one_of(TOKEN, st.sampled_from(ALL_OPTIONS)), min_size=1, max_size=2))
    junk = junk if draw(st.integers(0, 3)) == 0 else []  # junk in a quarter of the cases
    return [*before, *positionals, *after, *junk]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory: a real PNG, a text file, a folder (to name as SOURCE, DIR); prompts on stdin."""
    work = tmp_path / "work"
    work.mkdir()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(work / "src.png")
    (work / "notes.txt").write_text("not an image", encoding="utf-8")
    (work / "sub").mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a red fox\nfox --ar 9:1\n\n狐 --seed -1\n"))
    for name in [n for n in os.environ if n.startswith("IMAGINEBOT_")]:
        monkeypatch.delenv(name)
    return work


async def _seed(url: str) -> str:
    """Two queued jobs of user 42 and the audit entry of a ban: something for the commands to find."""
    queue = open_queue(settings_for(url))
    try:
        jobs = await queue.admission.enqueue(42, [JobSpec("a red fox")] * 2, model="tiny")
        await queue.admin.ban(7, reason="spam", actor="test")
        return jobs[0].id
    finally:
        await queue.close()


@pytest.fixture
def config(db_url: str, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_config(tmp_path / "config.toml", db_url, gen={"model": str(tmp_path / "no-such-model")})
    monkeypatch.setenv("IMAGINEBOT_CONFIG", str(path))
    (tmp_path / "job").write_text(in_thread(_seed(db_url)), encoding="utf-8")
    return path


def inside(folder: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code: int | str | None = main(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        code = exit_.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1 if code else 0), out, err


def check(argv: list[str], code: int, out: str, err: str) -> None:
    where = f"imaginebot {argv!r} -> {code}\nstderr: {err[-2000:]}"
    assert "Traceback" not in err and "Traceback" not in out, where
    assert code in (0, 1, 2), where
    if code == 0:
        return
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("imaginebot: warning:")]
    if not lines and argv[0] == "parse":  # parse says why on stdout: one JSON object a prompt
        assert any("error" in json.loads(line) for line in out.splitlines()), where
        return
    assert lines, f"a failure says why: {where}"
    if lines[0].startswith("usage:"):
        assert any(": error: " in line for line in lines), where
    else:
        assert len(lines) == 1 and lines[0].startswith("imaginebot: "), where


def command_id(path: tuple[str, ...]) -> str:
    return "-".join(path)


@pytest.mark.parametrize("path", DB_COMMANDS, ids=command_id)
@PROFILE
@given(data=st.data())
def test_database_commands_never_trace_back(
    path: tuple[str, ...], data: st.DataObject, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = (config.parent / "job").read_text(encoding="utf-8")
    args = [job if a == SEEDED_JOB else a for a in data.draw(argv_for(COMMANDS[path]), label="args")]
    argv = [*path, "--config", str(config), *args]
    check(argv, *run_cli(argv, capsys))


@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize("path", sorted(NO_DATABASE), ids=command_id)
@PROFILE
@given(data=st.data())
def test_commands_without_a_database_never_trace_back(
    path: tuple[str, ...],
    data: st.DataObject,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if path == ("make-tiny-model",):
        import gen.shapes

        def make_folder(target: Path, shape: str) -> Path:
            target.mkdir(parents=True, exist_ok=True)
            return target

        monkeypatch.setattr(gen.shapes, "make_shaped_model", make_folder)
    argv = [*path, *data.draw(argv_for(COMMANDS[path]), label="args")]
    if path == ("make-tiny-model",):  # it writes for real: only below the test's folder
        argv = [a if inside(config.parent, Path.cwd() / a) else "elsewhere" for a in argv]
    check(argv, *run_cli(argv, capsys))


@pytest.mark.parametrize("path", sorted(SERVE_FOREVER), ids=command_id)
@PROFILE
@given(data=st.data())
def test_serving_commands_parse_or_refuse_in_one_line(
    path: tuple[str, ...], data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*path, *data.draw(argv_for(COMMANDS[path]), label="args")]
    capsys.readouterr()
    try:
        args = build_parser().parse_args(as_text(argv))  # as main() does
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
        check(argv, code, *capsys.readouterr())
        return
    assert args.command == path[0]


def test_every_command_is_covered() -> None:
    """The walk finds the commands of the interface (and whatever is added later)."""
    found = set(COMMANDS)
    assert {("parse",), ("imagine",), ("edit",), ("db", "upgrade"), ("admin", "quota", "set")} <= found
    assert found == set(DB_COMMANDS) | NO_DATABASE | SERVE_FOREVER


LONG = "x" * 300  # longer than a file name may be
FOUND_BEFORE = [  # what the fuzz found tracing back, kept as plain cases
    (["admin", "ban", "5", "--reason", "\udcff"], ""),  # an argv byte that is not UTF-8, into the database
    (["admin", "cancel", "\udce9t\udce9"], "no job"),
    (["db", "downgrade", ""], "REVISION"),  # alembic asserted
    (["db", "downgrade", "x@"], "REVISION"),
    (["db", "downgrade", "nope"], "REVISION"),  # alembic's CommandError
    (["db", "downgrade", "0\r"], "REVISION"),  # ... whose message echoed a line break
    (["imagine", "a red fox"], "does not exist (nothing was charged)"),  # the model did not load
    (["imagine", "a red fox", "--model", LONG], "--model"),
    (["edit", LONG, "upscale"], "SOURCE"),
    (["make-tiny-model", LONG], "cannot write"),
    (["make-tiny-model", "sub", "--single-file", "sub"], "is a folder"),
    (["admin", "stats", "--config", "sub"], "cannot be read"),  # a folder as the configuration file
    (["parse", "fox", "--config", LONG], "cannot be read"),
    (["jobs", "--config", "src.png"], "is not text"),
]


@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize(("args", "expected"), FOUND_BEFORE, ids=[" ".join(a[:2]) for a, _ in FOUND_BEFORE])
def test_inputs_that_traced_back_are_one_clear_line(
    args: list[str], expected: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = args if args[0] == "make-tiny-model" or "--config" in args else [*args, "--config", str(config)]
    code, out, err = run_cli(argv, capsys)
    check(argv, code, out, err)
    assert expected in (err if code else out), err


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_a_model_that_does_not_load_charges_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["imagine", "a red fox --repeat 2", "--user", "5"], capsys)
    assert code == 2 and "does not exist" in err
    code, out, _ = run_cli(["admin", "quota", "show", "5", "--json"], capsys)
    quota = json.loads(out)
    assert code == 0 and (quota["used_today"], quota["queued"]) == (0, 0), quota
