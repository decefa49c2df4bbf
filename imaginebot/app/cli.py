"""The `imaginebot` command line: the arguments, and one module per command (imaginebot/app/<command>.py),
imported lazily so that `parse` starts without torch, discord or SQLAlchemy."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from imaginebot.core.gpu_time import MAX_GPU_MINUTES

# command -> "module:function"; each handler takes the parsed argparse.Namespace and returns an exit code.
HANDLERS = {
    "parse": "imaginebot.app.parse:run_parse",
    "imagine": "imaginebot.app.imagine:run_imagine",
    "edit": "imaginebot.app.edit:run_edit",
    "describe": "imaginebot.app.describe:run_describe",
    "blend": "imaginebot.app.imagine:run_blend",
    "run": "imaginebot.app.run:run_bot",
    "worker": "imaginebot.app.worker:run_worker",
    "web": "imaginebot.app.web:run_web",
    "db": "imaginebot.app.database:run_db",
    "make-tiny-model": "imaginebot.app.make_tiny_model:run_make_tiny_model",
    "admin": "imaginebot.app.admin:run_admin",
    "jobs": "imaginebot.app.jobs:run_jobs",
}


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, else argparse's one-line error naming it
    (a Discord id or a count beyond what the database stores must never reach it)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {low} to {high}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


DISCORD_ID = _int_in(0, 2**63 - 1)  # a snowflake: what a BIGINT column holds
DAILY_JOBS = _int_in(0, 100_000)  # as /admin quota set
AUDIT_LIMIT = _int_in(1, 1000)


def _gpu_minutes(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= MAX_GPU_MINUTES:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text.strip()} is out of range: use 0 to {MAX_GPU_MINUTES:g}")
    return value


_gpu_minutes.__name__ = "minutes"
GPU_MINUTES = _gpu_minutes
KEEP_DAYS = _int_in(0, 36_500)  # as storage.keep_days


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", metavar="F", help="configuration file (default: IMAGINEBOT_CONFIG or ./config.toml)"
    )


def _add_generation(p: argparse.ArgumentParser) -> None:
    """The options of the commands that generate here: imagine, blend, edit."""
    p.add_argument("--model", metavar="M", help="model to use (overrides gen.model)")
    p.add_argument("--out", metavar="DIR", default="out", help="output folder (default: out)")
    p.add_argument(
        "--user", metavar="U", type=DISCORD_ID, default=0, help="Discord user id to charge (default 0)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imaginebot", description="A self-hosted, Midjourney-style image bot."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("parse", help="parse Midjourney-style prompts and print the jobs as JSON lines")
    p.add_argument("prompt", nargs="?", help="the prompt; without it, one prompt a line is read from stdin")
    _add_config(p)

    p = sub.add_parser("imagine", help="generate a prompt's images through the queue, without Discord")
    p.add_argument("prompt")
    _add_generation(p)
    p.add_argument(
        "--image", metavar="FILE", action="append", default=[],
        help="an image prompt (PNG, JPEG, WebP or GIF; at most twice), weighted by --iw",
    )
    p.add_argument("--cn-image", metavar="FILE", help="the image of --cn KIND (canny: its edges are used)")
    _add_config(p)

    p = sub.add_parser("blend", help="blend 2 to 5 image files into four new images, without Discord")
    p.add_argument("files", metavar="FILE", nargs="+", help="2 to 5 PNG, JPEG, WebP or GIF files")
    p.add_argument("--dimensions", metavar="D", default="square", help="square, portrait or landscape")
    _add_generation(p)
    _add_config(p)

    p = sub.add_parser("describe", help="four prompts for an image file, from gen.captioner (one JSON line)")
    p.add_argument("file", metavar="FILE", help="a PNG, JPEG, WebP or GIF file")
    _add_config(p)

    p = sub.add_parser("edit", help="edit an image (zoom, pan, square, region, upscale …), without Discord")
    p.add_argument("source", metavar="SOURCE", help="a job id in the database, or an image file")
    p.add_argument(
        "action",
        metavar="ACTION",
        help="upscale, variations, vary-subtle, vary-strong, "
        "vary-region, upscale-subtle, upscale-creative, zoom-out, pan-left, pan-right, pan-up, "
        "pan-down or make-square",
    )
    p.add_argument(
        "--image", metavar="K", type=int, help="which image of the SOURCE job (default 1)"
    )
    p.add_argument("--prompt", metavar="P", help="the prompt (default: the SOURCE job's; a file needs one)")
    p.add_argument("--zoom", metavar="Z", help="zoom-out factor, 1.0 to 2.0 (default 2)")
    p.add_argument("--region", metavar="X0,Y0,X1,Y1", help="vary-region: fractions 0-1 of the source")
    p.add_argument("--seed", metavar="N", type=int, help="seed of the first image")
    _add_generation(p)
    _add_config(p)

    p = sub.add_parser("run", help="start the Discord bot (and an embedded worker unless disabled)")
    _add_config(p)

    p = sub.add_parser("worker", help="run a worker that claims and generates jobs from the database")
    _add_config(p)

    p = sub.add_parser("web", help="serve the web gallery alone (sign in with Discord; web.host:web.port)")
    _add_config(p)

    p = sub.add_parser("db", help="database schema and retention commands")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, text in (("upgrade", "apply migrations"), ("current", "show the schema revision")):
        _add_config(dbsub.add_parser(name, help=text))
    down = dbsub.add_parser("downgrade", help="revert migrations to REVISION (e.g. base)")
    down.add_argument("revision")
    _add_config(down)
    prune = dbsub.add_parser("prune", help="delete images older than storage.keep_days, erase expired tokens")
    prune.add_argument(
        "--days", metavar="N", type=KEEP_DAYS,
        help="keep images N days (default: storage.keep_days; 0: for ever)",
    )
    _add_config(prune)

    p = sub.add_parser("make-tiny-model", help="write a small random-weight diffusion pipeline")
    p.add_argument("dir", metavar="DIR")
    p.add_argument(
        "--family", choices=["sd15", "sdxl", "sd3", "flux"], help="the model family (default: sd15)"
    )
    p.add_argument("--sdxl", action="store_true", help="the same as --family sdxl")
    p.add_argument(
        "--inpainting", action="store_true", help="a dedicated inpainting model (9-channel UNet; sd15/sdxl)"
    )
    p.add_argument(
        "--single-file", metavar="FILE", help="also export the weights as one .safetensors file (sd15/sdxl)"
    )
    p.add_argument(
        "--shape",
        choices=["sd15", "sdxl"],
        help="instead: random weights with that architecture's real sizes, for benchmarks (GBs on disk)",
    )

    _build_admin(sub)

    p = sub.add_parser("jobs", help="job history, newest first")
    p.add_argument("--user", type=DISCORD_ID)
    p.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    p.add_argument("--limit", type=AUDIT_LIMIT, default=20)
    p.add_argument("--json", action="store_true")
    _add_config(p)
    return parser


def _build_admin(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = sub.add_parser("admin", help="operator commands (the same as /admin)")
    asub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")

    quota = asub.add_parser("quota", help="show, set or reset a user's daily quota")
    qsub = quota.add_subparsers(dest="quota_command", required=True, metavar="ACTION")
    q = qsub.add_parser("show")
    q.add_argument("user", type=DISCORD_ID)
    q.add_argument("--json", action="store_true")
    _add_scope(q, "also show that guild's limit, ban and the user's usage there")
    q = qsub.add_parser("set")
    q.add_argument("user", type=DISCORD_ID)
    q.add_argument("n", type=DAILY_JOBS, metavar="N", nargs="?", help="jobs per UTC day for this user")
    q.add_argument(
        "--gpu-minutes", type=GPU_MINUTES, metavar="M", help="Fast GPU minutes per UTC day (0 = unlimited)"
    )
    _add_scope(q, "set that guild's limit (counts their jobs there; only lowers the global one)")
    q = qsub.add_parser("reset", help="forget the override and today's usage")
    q.add_argument("user", type=DISCORD_ID)
    _add_scope(q, "forget only that guild's limit")

    for name in ("ban", "unban"):
        b = asub.add_parser(name)
        b.add_argument("user", type=DISCORD_ID)
        b.add_argument("--reason", default="")
        _add_scope(b, f"{name} in that guild only")
    c = asub.add_parser("cancel")
    c.add_argument("job")
    _add_scope(c, "only if the job was made in that guild")
    for name in ("pause", "resume"):
        _add_scope(asub.add_parser(name), f"{name} new jobs from that guild only")
    s = asub.add_parser("queue")
    s.add_argument("--json", action="store_true")
    _add_scope(s, "only the jobs made in that guild")
    s = asub.add_parser("stats")
    s.add_argument("--json", action="store_true")
    _add_config(s)
    s = asub.add_parser("audit", help="the audit log of admin and moderation actions, newest first")
    s.add_argument("--user", type=DISCORD_ID, metavar="ID", help="only the entries about this Discord user")
    s.add_argument("--limit", type=AUDIT_LIMIT, default=20, metavar="N")
    s.add_argument("--json", action="store_true")
    _add_scope(s, "only that guild's entries")


def _add_scope(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--guild", type=DISCORD_ID, metavar="ID", help=f"a Discord guild id: {what}")
    _add_config(p)


def as_text(argv: Sequence[str]) -> list[str]:
    """The arguments as text: bytes that are not UTF-8 (which Python keeps as lone surrogates, unfit for
    the database, the terminal or JSON) become U+FFFD, as a terminal shows them."""
    out = []
    for arg in argv:
        try:
            raw = arg.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = arg.encode("utf-8", "replace")
        out.append(raw.decode("utf-8", "replace"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(as_text(sys.argv[1:] if argv is None else argv))
    module_name, func_name = HANDLERS[args.command].split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    from imaginebot.core.config import ConfigError

    try:
        return int(handler(args) or 0)
    except ConfigError as exc:
        print(f"imaginebot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def console() -> None:
    """The `imaginebot` console script: `main()`, then exit.

    A command that loaded torch (imagine, make-tiny-model, run, worker) has finished its work, closed its
    database and written its files by the time `main()` returns; tearing down torch, diffusers and
    transformers module by module would then take another ~1.2 s. So such a process flushes its output
    and logs and leaves at once.
    """
    code = main()
    if "torch" in sys.modules:
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
