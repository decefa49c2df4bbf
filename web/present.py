"""How a job reads on a page: its prompt as a user would type it again (with its parameters), the table
of its parameters, its status and dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.records import JobRecord
from imaginebot.core.domain import JobSpec, JobStatus
from web.params import kind_label

STATUS_TEXT = {
    JobStatus.QUEUED: "Waiting in the queue",
    JobStatus.RUNNING: "Being made",
    JobStatus.SUCCEEDED: "Done",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float) -> str:
    return f"{value:g}"


def _text(spec: JobSpec) -> str:
    if not spec.is_weighted:
        return spec.prompt
    return " ".join(f"{p.text}::{_number(p.weight)}" for p in spec.weights)


def full_prompt(job: JobRecord) -> str:
    """The prompt with the parameters that make this job again (its seed included), Midjourney style."""
    spec = job.spec
    loras = "".join(f" <lora:{lo.name}:{_number(lo.weight)}>" for lo in spec.loras)
    parts = [_text(spec) + loras]
    if spec.negative_prompt:
        parts.append(f"--no {spec.negative_prompt}")
    if spec.aspect_ratio != "1:1":
        parts.append(f"--ar {spec.aspect_ratio}")
    defaults = JobSpec("")
    for flag, name in (("--chaos", "chaos"), ("--stylize", "stylize"), ("--quality", "quality"),
                       ("--stop", "stop"), ("--weird", "weird")):  # fmt: skip
        value = getattr(spec, name)
        if value != getattr(defaults, name):
            parts.append(f"{flag} {_number(value)}")
    if spec.tile:
        parts.append("--tile")
    if spec.model:
        parts.append(f"--model {spec.model}")
    parts.append(f"--seed {job.seed}")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    value: str


def parameters(job: JobRecord) -> list[Row]:
    spec = job.spec
    rows = [
        Row("Kind", kind_label(job.kind)),
        Row("Status", STATUS_TEXT.get(job.status, job.status.value)),
        Row("Model", job.model),
        Row("Size", f"{spec.width} × {spec.height} ({spec.aspect_ratio})"),
        Row("Seed", str(job.seed)),
        Row("Steps", str(spec.effective_steps)),
        Row("Guidance", _number(spec.guidance_scale)),
        Row("Chaos", str(spec.chaos)),
        Row("Stylize", str(spec.stylize)),
        Row("Quality", _number(spec.quality)),
    ]
    if spec.negative_prompt:
        rows.append(Row("Negative prompt", spec.negative_prompt))
    if spec.loras:
        rows.append(Row("LoRAs", ", ".join(f"{lo.name} ({_number(lo.weight)})" for lo in spec.loras)))
    if spec.tile:
        rows.append(Row("Tile", "yes"))
    if job.strength is not None and job.parent_job_id is not None:
        rows.append(Row("Strength", _number(job.strength)))
    rows.append(Row("Created", when(job.created_at)))
    if job.finished_at is not None:
        rows.append(Row("Finished", when(job.finished_at)))
    if job.gpu_seconds is not None:
        rows.append(Row("GPU time", f"{job.gpu_seconds:.1f} s"))
    return rows
