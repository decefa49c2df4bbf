"""Multi-job work as whole processes: `imaginebot imagine "… --repeat 4"` vs a plain diffusers loop.

    .venv/bin/python benchmarks/bench_multijob.py [--model DIR] [--size 512] [--steps 30] [--pairs 3]
        [--jobs 4] [--config-extra 'queue.max_batch=4']

Each pair runs the plain loop (benchmarks/plain_diffusers.py: load once, one call per job of four
images, save the PNGs) and the product's command over the same number of jobs (a fresh SQLite queue,
the embedded worker, PNGs and grids written), one after the other, alternating which goes first. Both
are timed as whole processes (start to exit). Prints each pair and the ratio of the medians.
Goal (issue: performance): ≤ 1.05× for 4 jobs × 4 images at 512² on a CPU.

Runs on the tiny model (built once under a temporary folder) unless --model names another folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("imaginebot"))


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def _config(root: Path, run: int, model: Path, size: int, steps: int, extra: list[str]) -> Path:
    lines = [
        "[app]",
        f'data_dir = "{root / "data"}"',
        'log_level = "WARNING"',
        "[database]",
        f'url = "sqlite+aiosqlite:///{root / f"queue{run}.db"}"',
        "[gen]",
        f'model = "{model}"',
        f"base_resolution = {size}",
        f"steps = {steps}",
    ]
    sections: dict[str, list[str]] = {}
    for item in extra:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        sections.setdefault(section, []).append(f"{name} = {value}")
    text = "\n".join(lines) + "\n"
    for section, items in sections.items():
        if section in ("app", "database", "gen"):
            text = text.replace(f"[{section}]\n", f"[{section}]\n" + "\n".join(items) + "\n", 1)
        else:
            text += f"[{section}]\n" + "\n".join(items) + "\n"
    path = root / f"config{run}.toml"
    path.write_text(text)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a diffusers folder (default: the tiny model, built here)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--config-extra", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-multijob-") as tmp:
        root = Path(tmp)
        model = Path(args.model) if args.model else root / "tiny"
        if not args.model:
            subprocess.run([CLI, "make-tiny-model", str(model)], check=True, capture_output=True, env=env)
        plain_cmd = [PYTHON, str(REPO / "benchmarks" / "plain_diffusers.py"), str(model), str(root / "plain")]
        plain_cmd += ["--jobs", str(args.jobs), "--size", str(args.size), "--steps", str(args.steps)]
        plain, ours = [], []
        for run in range(args.pairs):
            config = _config(root, run, model, args.size, args.steps, args.config_extra)
            prompt = f"a red fox in snow --ar 1:1 --repeat {args.jobs}"
            ours_cmd = [CLI, "imagine", prompt, "--out", str(root / f"out{run}"), "--config", str(config)]
            order = [("plain", plain_cmd), ("ours", ours_cmd)]
            if run % 2:
                order.reverse()
            times = {}
            for name, cmd in order:
                times[name], stdout = _timed(cmd, env)
                if name == "ours":
                    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
                    if len(lines) != args.jobs or any(len(x["images"]) != 4 for x in lines):
                        raise SystemExit(f"imagine wrote {len(lines)} jobs, expected {args.jobs}")
            plain.append(times["plain"])
            ours.append(times["ours"])
            print(
                f"pair {run + 1}: plain {times['plain']:.2f} s, imagine {times['ours']:.2f} s, "
                f"ratio {times['ours'] / times['plain']:.3f}",
                flush=True,
            )
        ratio = statistics.median(ours) / statistics.median(plain)
        print(
            json.dumps(
                {
                    "jobs": args.jobs,
                    "size": args.size,
                    "steps": args.steps,
                    "plain_s": [round(t, 2) for t in plain],
                    "imagine_s": [round(t, 2) for t in ours],
                    "ratio_of_medians": round(ratio, 3),
                    "config_extra": args.config_extra,
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
