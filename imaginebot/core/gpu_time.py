"""A batch's device time shared among its jobs by their share of the work (images × steps × pixels).

The engine runs a batch as one forward pass per step, so the batch's wall time is known, not each job's;
a job's GPU seconds are that time apportioned by `work_units`.
"""

from __future__ import annotations

from collections.abc import Mapping

from imaginebot.core.domain import GenRequest

# Speed modes, as Midjourney's: Turbo is claimed first and costs quota.turbo_factor × its GPU time in Fast
# time; Fast (the default) costs its GPU time; Relax costs no Fast time and is claimed only when no Fast or
# Turbo job of its model waits, or once it has waited queue.relax_max_wait.
FAST, RELAX, TURBO = "fast", "relax", "turbo"
MODES = (FAST, RELAX, TURBO)

# Seconds of GPU time per work unit (image × step × pixel) assumed for a model until it has measured jobs:
# about an SD 1.5 grid (4 × 30 steps × 512²) in 5 s on a data-centre GPU. Reservations use the model's own
# measured rate as soon as it has one (db/admission).
DEFAULT_SECONDS_PER_UNIT = 1.6e-7
MAX_GPU_MINUTES = 1440.0  # a day's Fast time a user may be given (a whole day of GPU)


def minutes(seconds: float) -> str:
    """GPU time as people read it: "0.4 min", "12 min", "1 h 05 min"."""
    m = max(0.0, seconds) / 60.0
    if m < 10:
        return f"{m:.1f} min"
    if m < 60:
        return f"{m:.0f} min"
    h, rest = divmod(round(m), 60)
    return f"{h} h {rest:02d} min"


def fast_factor(mode: str, turbo_factor: float) -> float:
    """Fast seconds one GPU second of a job in `mode` costs."""
    return {FAST: 1.0, TURBO: float(turbo_factor), RELAX: 0.0}[mode]


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
