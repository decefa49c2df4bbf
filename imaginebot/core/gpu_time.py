"""A batch's device time shared among its jobs by their share of the work (images × steps × pixels).

The engine runs a batch as one forward pass per step, so the batch's wall time is known, not each job's;
a job's GPU seconds are that time apportioned by `work_units`.
"""

from __future__ import annotations

from collections.abc import Mapping

from imaginebot.core.domain import GenRequest


def work_units(image_count: int, steps: float, width: int, height: int) -> float:
    """The work of one job: images × denoising steps × pixels (never negative)."""
    return float(max(0, image_count)) * max(0.0, float(steps)) * max(0, width) * max(0, height)


def request_units(request: GenRequest) -> float:
    """The work of one request: the steps actually run are `spec.effective_steps` (`--stop`), times the
    strength for img2img (a variation or an upscale denoises only that fraction of them)."""
    steps = float(request.spec.effective_steps)
    if request.strength is not None:
        steps *= request.strength
    width, height = request.size
    return work_units(request.image_count, steps, width, height)


def apportion(seconds: float, units: Mapping[str, float]) -> dict[str, float]:
    """`seconds` split among the keys of `units` in proportion to their units; the shares sum to
    `seconds` (up to float rounding). All units zero: equal shares. No keys: {}."""
    if not units:
        return {}
    seconds = max(0.0, seconds)
    weights = {key: max(0.0, u) for key, u in units.items()}
    top = max(weights.values())
    if top <= 0.0:
        return dict.fromkeys(weights, seconds / len(weights))
    # Fractions of the largest first: no overflow for huge units, no underflow for tiny ones.
    fractions = {key: w / top for key, w in weights.items()}
    total = sum(fractions.values())
    return {key: seconds * (f / total) for key, f in fractions.items()}
