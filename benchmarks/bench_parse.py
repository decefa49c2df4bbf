"""Benchmark `imaginebot parse`: start-up time and how many prompts a second it parses.

    .venv/bin/python benchmarks/bench_parse.py [--runs 10] [--prompts 1000]

Measures, each as the median of --runs runs of a fresh process:
- the interpreter alone (`python -c pass`), the configuration import, and the parser import;
- `imaginebot parse "a fox"` end to end (the number the start-up goal is about);
- `imaginebot parse` reading --prompts varied prompts from stdin (one process);
and the in-process rate of parse_prompt() over the same prompts (median of --runs passes).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from imaginebot.core.prompt import ParserLimits, PromptError, parse_prompt  # noqa: E402

SUBJECTS = [
    "a red fox in snow",
    "portrait of an old sailor",
    "city street at night, neon",
    "a bowl of ramen",
    "mountain lake at dawn",
    "hot dog::1.5 food::-1",
    "cat::2 astronaut",
    "狐 in a bamboo forest",
]
# One choice per parameter, so a prompt never gives one twice.
PARAMS = [
    ["--ar 3:2", "--ar 16:9", "—ar 2:3", "--aspect 4:5"],
    ["--seed 42", "--seed 4294967295"],
    ["--no text, watermark", "--no blur"],
    ["--c 20", "--chaos 100"],
    ["--s 250", "--stylize 0"],
    ["--q .5", "--quality .25"],
    ["--stop 80"],
    ["--tile"],
    ["--r 2"],
]
BRACES = ["{red, blue} bird", "a {cat, dog} --ar {1:1, 3:2}", "{a, {b, c}} x"]
BAD = ["a --chaos 150", "a --foo", "--ar 3:2", "{a, b", "a --seed abc"]


def varied_prompts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 20 == 19:
            out.append(rng.choice(BAD))
            continue
        text = rng.choice(BRACES) if i % 10 == 5 else rng.choice(SUBJECTS)
        params = [rng.choice(group) for group in rng.sample(PARAMS, rng.randint(0, 4))]
        if "--r 2" in params and "--ar" in text:
            params.remove("--r 2")  # keep permutations x repeats within the caps
        if "--ar" in text:
            params = [p for p in params if "ar " not in p and "aspect" not in p]
        out.append(" ".join([text, *params]))
    return out


def timed(cmd: list[str], stdin: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, input=stdin, text=True, capture_output=True, check=False, cwd=REPO)
    return time.perf_counter() - start


def median_of(runs: int, cmd: list[str], stdin: str | None = None) -> float:
    timed(cmd, stdin)  # warm the file cache
    return statistics.median(timed(cmd, stdin) for _ in range(runs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--prompts", type=int, default=1000)
    args = ap.parse_args()

    py = sys.executable
    script = Path(py).with_name("imaginebot")
    cli = [str(script)] if script.is_file() else [py, "-m", "imaginebot.app.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text('[gen]\nmodel = "tiny"\n', encoding="utf-8")
        parse = [*cli, "parse", "--config", str(config)]
        load = f"from imaginebot.core.config import load_settings; load_settings({str(config)!r})"
        import_prompt = "import imaginebot.core.prompt"
        rows = [
            ("python -c pass", median_of(args.runs, [py, "-c", "pass"])),
            (import_prompt, median_of(args.runs, [py, "-c", import_prompt])),
            ("import imaginebot.core.config + load_settings()", median_of(args.runs, [py, "-c", load])),
            ('imaginebot parse "a fox"', median_of(args.runs, [*parse, "a fox"])),
        ]
        prompts = varied_prompts(args.prompts)
        stdin = "\n".join(prompts) + "\n"
        batch = median_of(max(3, args.runs // 3), parse, stdin)

    limits = ParserLimits()
    times = []
    for _ in range(args.runs):
        jobs = errors = 0
        start = time.perf_counter()
        for text in prompts:
            try:
                jobs += len(parse_prompt(text, limits))
            except PromptError:
                errors += 1
        times.append(time.perf_counter() - start)
    in_process = statistics.median(times)

    print(f"start-up (median of {args.runs} runs):")
    for name, seconds in rows:
        print(f"  {name:<45} {seconds * 1000:7.1f} ms")
    print(f"{len(prompts)} prompts ({jobs} jobs, {errors} errors):")
    print(
        f"  imaginebot parse < stdin (one process)       {batch * 1000:7.1f} ms  "
        f"({len(prompts) / batch:,.0f} prompts/s incl. start-up)"
    )
    print(
        f"  parse_prompt() in process                    {in_process * 1000:7.1f} ms  "
        f"({len(prompts) / in_process:,.0f} prompts/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
