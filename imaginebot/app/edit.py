"""`imaginebot edit SOURCE ACTION …`: one edit of an image through the real queue and engine.

SOURCE is a job id in the configured database (its image `--image K`, default 1) or an image file (PNG,
JPEG or WebP; it then needs `--prompt`). The edit is built by the same rules as the Discord buttons
(imaginebot.core.edit_jobs), charged to `--user` like `imaginebot imagine`, and written to
`DIR/<job_id>/1.png …` (and `grid.png` for a grid). One JSON line: imagine's fields plus `kind` (the
ACTION) and `parent` (`{"job_id", "image"}` or `{"file"}`). Bad input: one line on stderr naming the
argument, exit 2, nothing queued or charged.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imaginebot.app import messages
from imaginebot.app.imagine import (
    ModelUnusable,
    generate,
    generating_settings,
    ready,
    write_results,
)
from imaginebot.core.config import Settings
from imaginebot.core.domain import SEED_MAX, ImageRef, JobKind, JobSpec, JobStatus, UserDefaults
from imaginebot.core.edit_jobs import EditJob, edit_job, reprompt
from imaginebot.core.edits import EditAction, EditError, Region, parse_region
from imaginebot.core.prompt import ParserLimits, PromptError, parse_prompt
from imaginebot.core.sizes import aspect_ratio, working_size

if TYPE_CHECKING:
    from db.queue import Queue, SourceFile

IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}
MAX_FILE_PIXELS = 4096 * 4096


class BadEdit(ValueError):
    """Bad input on the command line: the message names the argument."""


@dataclass(frozen=True)
class Source:
    spec: JobSpec
    pixels: tuple[int, int]
    parent: ImageRef | None = None
    file: SourceFile | None = None
    path: str | None = None


def run_edit(args: argparse.Namespace) -> int:
    settings = generating_settings(args)
    if settings is None:
        return 2
    args.source_file = _image_file(args.source)
    try:
        options = _options(args)
    except (BadEdit, EditError) as err:
        print(f"imaginebot: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_edit(settings, args, *options))


def _image_file(source: str) -> Path | None:
    """SOURCE as a file, or None when it names none (then it is a job id): a name too long for a file
    (OSError) is not one."""
    try:
        return Path(source) if Path(source).is_file() else None
    except OSError:
        return None


def _options(args: argparse.Namespace) -> tuple[EditAction, float | None, list[Region], int | None]:
    """Check what needs no database: the action, and that each option fits it."""
    try:
        action = EditAction(args.action)
    except ValueError:
        names = ", ".join(a.value for a in EditAction)
        raise BadEdit(f"ACTION: {args.action!r} is not an edit; use one of {names}") from None
    zoom: float | None = None
    if args.zoom is not None:
        if action is not EditAction.ZOOM_OUT:
            raise BadEdit(f"--zoom: only zoom-out takes a zoom, not {action.value}")
        try:
            zoom = float(args.zoom)
        except ValueError:
            raise BadEdit(f"--zoom: {args.zoom!r} is not a number (use 1.0 to 2.0)") from None
        if math.isnan(zoom) or math.isinf(zoom):
            raise BadEdit(f"--zoom: {args.zoom!r} is not a number (use 1.0 to 2.0)")
    regions: list[Region] = []
    if args.region is not None:
        if action is not EditAction.VARY_REGION:
            raise BadEdit(f"--region: only vary-region takes a region, not {action.value}")
        regions = [parse_region(args.region)]
    elif action is EditAction.VARY_REGION:
        raise BadEdit("--region: vary-region needs the part to repaint, e.g. --region 0.25,0.25,0.75,0.75")
    if args.seed is not None and not 0 <= args.seed <= SEED_MAX:
        raise BadEdit(f"--seed: {args.seed} is out of range (0 to {SEED_MAX})")
    return action, zoom, regions, args.seed


async def _edit(
    settings: Settings,
    args: argparse.Namespace,
    action: EditAction,
    zoom: float | None,
    regions: list[Region],
    seed: int | None,
) -> int:
    from db.errors import QueueRefusal
    from db.session import DatabaseError
    from imaginebot.app.common import open_queue

    limits = ParserLimits.from_settings(settings)
    queue = open_queue(settings)
    try:
        try:
            await ready(queue)
            defaults = await queue.admission.get_settings(args.user)
            source = await _source(queue, args, limits, defaults)
            spec, ar = source.spec, None
            if args.prompt is not None:  # (a file's spec holds these words already; the --ar is wanted)
                spec, ar = reprompt(source.spec, args.prompt, limits, defaults)
            job = edit_job(
                action,
                spec,
                source_pixels=source.pixels,
                base_resolution=limits.base_resolution,
                zoom=zoom,
                ar=ar,
                regions=regions,
                seed=seed,
            )
            ids = await _enqueue(queue, settings, args.user, job, source)
        except QueueRefusal as err:
            print(f"imaginebot: {messages.refusal(err)}", file=sys.stderr)
            return 2
        except (BadEdit, EditError, PromptError, DatabaseError) as err:
            print(f"imaginebot: {err}", file=sys.stderr)
            return 2
        try:
            scheduler = await generate(settings, queue, ids, job.spec.model or settings.gen.model)
        except ModelUnusable as err:
            print(f"imaginebot: {err}", file=sys.stderr)
            return 2
        parent: dict[str, Any] = (
            {"job_id": source.parent.job_id, "image": source.parent.index}
            if source.parent is not None
            else {"file": source.path}
        )
        return await write_results(
            queue.reads, ids, Path(args.out), scheduler, {"kind": action.value, "parent": parent}
        )
    finally:
        await queue.close()


async def _enqueue(queue: Queue, settings: Settings, user_id: int, job: EditJob, source: Source) -> list[str]:
    parent = source.parent.job_id if source.parent is not None else None
    keeps_prompts = job.kind is JobKind.VARIATION and not job.spec.cn
    jobs = await queue.admission.enqueue(
        user_id,
        [job.spec],
        kind=job.kind,
        model=settings.gen.model,
        parent=source.parent,
        source=source.file,
        strength=job.strength,
        edit=job.edit,
        # a variation keeps its grid's image prompts (not a --cn grid's control map), as V1…V4 do
        inputs_of=parent if keeps_prompts else None,
    )
    return [j.id for j in jobs]


async def _source(
    queue: Queue, args: argparse.Namespace, limits: ParserLimits, defaults: UserDefaults
) -> Source:
    if args.source_file is not None:
        return _file_source(args.source_file, args, limits, defaults)
    job = await queue.reads.find_job(args.source)
    if job is None:
        raise BadEdit(f"SOURCE: {args.source!r} is neither a job id in the database nor an image file")
    if job.status is not JobStatus.SUCCEEDED:
        raise BadEdit(
            f"SOURCE: job {job.id} is {job.status.value}; only a finished job's images can be edited"
        )
    index = 1 if args.image is None else args.image
    if not 1 <= index <= job.image_count:
        raise BadEdit(f"--image: job {job.id} has {job.image_count} image(s); {index} is not one of them")
    image = await queue.reads.get_image(job.id, index)
    if image is None:
        raise BadEdit(f"SOURCE: job {job.id} has no image {index} stored")
    return Source(job.spec, (image.width, image.height), parent=ImageRef(job.id, index))


def _file_source(
    path: Path, args: argparse.Namespace, limits: ParserLimits, defaults: UserDefaults
) -> Source:
    from PIL import Image, UnidentifiedImageError

    from db.queue import SourceFile
    from imaginebot.core.images import png_bytes

    if args.image is not None:
        raise BadEdit("--image: only a job id SOURCE has several images; an image file is one")
    if args.prompt is None:
        raise BadEdit(f"--prompt: the image file {path} has no prompt of its own; give one with --prompt")
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in IMAGE_FORMATS:
                raise BadEdit(f"SOURCE: {path} is a {img.format} image; use PNG, JPEG or WebP")
            if img.width * img.height > MAX_FILE_PIXELS:
                raise BadEdit(f"SOURCE: {path} is {img.width}×{img.height}; at most 4096×4096 pixels")
            picture = img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise BadEdit(f"SOURCE: {path} is not a PNG, JPEG or WebP image") from None
    spec = parse_prompt(args.prompt, limits, defaults)[0]
    width, height = working_size(picture.width, picture.height, limits.base_resolution)
    spec = replace(spec, width=width, height=height, aspect_ratio=aspect_ratio(width, height))
    png = png_bytes(picture)
    return Source(spec, picture.size, file=SourceFile(png, picture.width, picture.height), path=str(path))
