"""Domain types shared by every layer: job specs, kinds, statuses and the engine contract.

Nothing here imports torch, discord or SQLAlchemy, so `imaginebot parse` and the bot host stay light.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from imaginebot.core.batch_key import BatchKey, ImagePrompt, LoraRef
from imaginebot.core.edits import EditAction, EditPlan


class JobKind(enum.StrEnum):
    IMAGINE = "imagine"
    UPSCALE = "upscale"
    VARIATION = "variation"
    REROLL = "reroll"
    # The edits of an upscaled image (INTERFACE.md "Editing an image"); their geometry is an EditPlan.
    UPSCALE_SUBTLE = "upscale_subtle"
    UPSCALE_CREATIVE = "upscale_creative"
    VARY_REGION = "vary_region"
    ZOOM_OUT = "zoom_out"
    PAN = "pan"
    MAKE_SQUARE = "make_square"

    @property
    def image_count(self) -> int:
        """Images one job of this kind produces: a 2×2 grid, or one upscaled image."""
        return 1 if self.is_upscale else 4

    @property
    def is_upscale(self) -> bool:
        """One image, larger than its source (U1…U4, Upscale (Subtle) / (Creative)): its message carries
        the edit buttons."""
        return self in (JobKind.UPSCALE, JobKind.UPSCALE_SUBTLE, JobKind.UPSCALE_CREATIVE)

    @property
    def is_inpaint(self) -> bool:
        """Runs through the inpainting pipeline: a mask says what is regenerated, the rest is kept."""
        return self in (JobKind.VARY_REGION, JobKind.ZOOM_OUT, JobKind.PAN, JobKind.MAKE_SQUARE)

    @property
    def needs_source(self) -> bool:
        """Made from an image of another job (or a file): everything but imagine and re-roll."""
        return self not in (JobKind.IMAGINE, JobKind.REROLL)

    @property
    def is_grid(self) -> bool:
        return not self.is_upscale

    @classmethod
    def for_action(cls, action: EditAction) -> JobKind:
        """The job kind that carries out an edit action."""
        if action is EditAction.UPSCALE:
            return cls.UPSCALE
        if action in (EditAction.VARIATIONS, EditAction.VARY_SUBTLE, EditAction.VARY_STRONG):
            return cls.VARIATION
        if action.is_pan:
            return cls.PAN
        return cls(action.value.replace("-", "_"))


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Failure(enum.StrEnum):
    """Why a job ended without images (stored in `jobs.failure`; each face words it for its readers)."""

    ENGINE_FAILED = "engine_failed"  # the engine refused the batch (GenerationError); detail: its message
    ENGINE_ERROR = "engine_error"  # an unexpected exception in the engine; retried, then failed
    NO_IMAGES = "no_images"  # the engine returned no result for the job; retried, then failed
    WORKER_LOST = "worker_lost"  # its worker stopped renewing the lease too often; detail: the attempts
    BANNED = "banned"  # cancelled while queued because its user was banned
    OUT_OF_MEMORY = "out_of_memory"  # too large for the device even alone; detail: the size
    BAD_INPUT = "bad_input"  # the engine cannot use the job's input; detail: what is wrong with it
    DEVICE_ERROR = "device_error"  # the device or its driver failed; retried, then failed; detail: error
    NO_WORKER = "no_worker"  # queued, but no worker served its model for too long; detail: the model


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image of a finished job: the source of an upscale or a variation (U1…U4, V1…V4)."""

    job_id: str
    index: int  # 1-based


class VariationStrength(enum.StrEnum):
    SUBTLE = "subtle"
    STRONG = "strong"


# img2img strengths (documented in the README): subtle keeps composition, strong keeps only the gist.
VARIATION_STRENGTHS: dict[VariationStrength, float] = {
    VariationStrength.SUBTLE: 0.4,
    VariationStrength.STRONG: 0.8,
}
UPSCALE_FACTOR = 2
UPSCALE_STRENGTH = 0.25

SEED_MAX = 4_294_967_295


@dataclass(frozen=True, slots=True)
class PromptPart:
    text: str
    weight: float = 1.0


_STRING_TUPLES = ("image_urls", "sref", "notes")  # JobSpec fields stored as JSON lists of strings


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job as the prompt language describes it (the JOB object of `imaginebot parse`)."""

    prompt: str
    negative_prompt: str = ""
    weights: tuple[PromptPart, ...] = ()
    aspect_ratio: str = "1:1"
    width: int = 512
    height: int = 512
    seed: int | None = None
    chaos: int = 0
    stylize: int = 100
    quality: float = 1.0
    stop: int = 100
    tile: bool = False
    steps: int = 30
    guidance_scale: float = 7.0
    model: str = ""  # the catalogue name the prompt chose (--model, --niji); "" = the configured default
    loras: tuple[LoraRef, ...] = ()  # in prompt order
    draft: bool = False  # --draft: the model's draft profile
    weird: int = 0  # --weird / a lone --w (0-3000), applied as extra chaos (already in `chaos`)
    image_urls: tuple[str, ...] = ()  # image prompts: the image URLs at the start of the prompt
    iw: float = 1.0  # --iw: the image prompts' weight (0-3)
    sref: tuple[str, ...] = ()  # --sref: style reference URLs or codes
    sw: int = 100  # --sw: the style references' weight (0-1000)
    cn: str = ""  # --cn: the ControlNet kind (canny, depth, pose, scribble, tile); its image is the map
    cw: float = 1.0  # --cw with --cn: the ControlNet weight (0-2)
    mode: str = "fast"  # --fast / --relax / --turbo, else the caller's default (/fast, /relax, /turbo)
    notes: tuple[str, ...] = ()  # one line on each parameter read but honoured differently or not at all

    def to_json(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict (which deep-copies every value): this runs for
        # every job enqueued.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["weights"] = [{"text": p.text, "weight": p.weight} for p in self.weights]
        data["loras"] = [{"name": lo.name, "weight": lo.weight} for lo in self.loras]
        for name in _STRING_TUPLES:
            data[name] = list(data[name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSpec:
        """The spec of `to_json`; a row stored before a field existed gets that field's default."""
        fields = dict(data)
        fields["weights"] = tuple(PromptPart(str(w["text"]), float(w["weight"])) for w in data["weights"])
        fields["loras"] = tuple(LoraRef(str(lo["name"]), float(lo["weight"])) for lo in data.get("loras", ()))
        for name in _STRING_TUPLES:
            if name in data:
                fields[name] = tuple(str(item) for item in data[name] or ())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in fields.items() if k in known})

    @property
    def is_weighted(self) -> bool:
        """True when the prompt needs weighted embeddings (more than one part, or a weight other than 1)."""
        return len(self.weights) > 1 or any(p.weight != 1.0 for p in self.weights)

    @property
    def effective_steps(self) -> int:
        """Denoising steps actually run: `--stop` finishes early at that percentage of `steps`."""
        return max(1, -(-self.steps * self.stop // 100))


# ---------------------------------------------------------------------------------------------
# The engine contract: what the worker hands to gen/ and gets back. gen/ implements `Engine`.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GenRequest:
    """One job's worth of work inside a batch.

    imagine/reroll: txt2img, `spec.image_count` images, image k seeded with `seed + k - 1`.
    imagine with `images`: the image prompts at `spec.iw`, through IP-Adapter (reusing `image_embeds`)
    where the engine has one, else img2img from the first image (gen.ip_adapter).
    variation: img2img of `source_png` at `strength`, four images.
    upscale: `source_png` resized ×UPSCALE_FACTOR and refined at `strength`, one image.
    upscale_subtle/_creative: the same at `edit`'s size (twice the source's pixels), one image.
    vary_region/zoom_out/pan/make_square: inpainting of `edit`'s canvas (the source placed in it) where
    `edit.regenerate` says, four images; the kept area is the source's own pixels.
    """

    job_id: str
    kind: JobKind
    spec: JobSpec
    seed: int
    source_png: bytes | None = None
    strength: float | None = None
    edit: EditPlan | None = None
    images: tuple[bytes, ...] = ()  # image prompts (PNG): `image`, `image2`, the URLs' (or --sref's)
    image_embeds: bytes | None = None  # their IP-Adapter embeddings once computed (gen.ip_adapter)

    @property
    def image_count(self) -> int:
        return self.kind.image_count

    @property
    def size(self) -> tuple[int, int]:
        """The output size (an upscale's is known only from its source: then the spec's)."""
        if self.edit is not None:
            return self.edit.size
        return self.spec.width, self.spec.height

    @property
    def image_prompt(self) -> ImagePrompt | None:
        """Its images' part of the batch key: style references (`--sref`, weighed by --sw) or image
        prompts (weighed by --iw)."""
        if not self.images:
            return None
        if self.spec.cn:
            return ImagePrompt(f"control:{self.spec.cn}", self.spec.cw, len(self.images))
        if self.spec.sref:
            return ImagePrompt("style", self.spec.sw, len(self.images))
        return ImagePrompt("image", self.spec.iw, len(self.images))

    def batch_key(self) -> BatchKey:
        """Requests with equal keys can share one forward pass."""
        family = "inpaint" if self.kind.is_inpaint else "txt2img" if not self.kind.needs_source else "img2img"
        width, height = self.size
        return BatchKey(
            family,
            self.kind.is_upscale,
            width,
            height,
            self.spec.steps,
            self.spec.effective_steps,
            self.spec.guidance_scale,
            self.spec.tile,
            self.strength,
            self.spec.loras,
            self.image_prompt,
        )


@dataclass(frozen=True, slots=True)
class GenResult:
    """A job's images; or, with `failure`, why this one job of the batch failed (the others keep theirs)."""

    job_id: str
    images: list[bytes]  # PNG bytes, one per image, in order
    width: int
    height: int
    failure: Failure | None = None  # a deterministic failure of this job alone: not retried, refunded
    detail: str = ""
    # Decoded pictures (PIL images) not yet PNG-encoded: a pipelined engine leaves the encoding to the
    # worker, off the generation thread (imaginebot.core.images.encode_pictures); `images` is then empty.
    pictures: tuple[Any, ...] = ()
    gpu_seconds: float | None = None  # its share of the batch's device time (set by the worker)
    # Image moderation's verdict, one per image (True: flagged); empty when nothing checked them.
    flags: tuple[bool, ...] = ()
    image_embeds: bytes | None = None  # IP-Adapter embeddings this run computed: stored with the job


@dataclass(frozen=True, slots=True)
class GenProgress:
    job_ids: tuple[str, ...]
    step: int
    total_steps: int
    preview_jpeg: bytes | None = None  # small preview of the first image of each job, when due
    previews: dict[str, bytes] = field(default_factory=dict)  # job id -> small JPEG preview

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.step / max(1, self.total_steps)))


class GenerationCancelled(Exception):
    """Raised by the engine when every job in the batch was cancelled between steps."""


class GenerationError(Exception):
    """A failure that would repeat (not worth retrying): every job of the batch fails, refunded."""

    def __init__(self, message: str, failure: Failure = Failure.ENGINE_FAILED) -> None:
        super().__init__(message)
        self.failure = failure


class TransientGenerationError(Exception):
    """A failure of the device or its driver that another try may not meet: the jobs are retried (up
    to `queue.max_attempts` claims), then failed and refunded."""


ProgressCallback = Callable[[GenProgress], None]
CancelCheck = Callable[[str], bool]


class Engine(Protocol):
    """Turns a batch of compatible requests into images. Blocking; the worker calls it off the event loop."""

    model_id: str

    def generate(
        self,
        batch: list[GenRequest],
        progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenResult]: ...


class AsyncEngine(Protocol):
    """What the worker awaits: an Engine run off the event loop (gen.runner), or a test double.

    `progress` is called on the event loop. `is_cancelled` may be called from the generation thread.
    """

    model_id: str

    async def generate(
        self,
        batch: list[GenRequest],
        progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenResult]: ...


@dataclass(frozen=True, slots=True)
class UserDefaults:
    """A user's /settings: applied by the prompt parser where the prompt does not say otherwise."""

    aspect_ratio: str | None = None
    stylize: int | None = None
    quality: float | None = None
    chaos: int | None = None
    stop: int | None = None
    tile: bool | None = None
    remix: bool | None = None  # Remix mode: V, 🔄, Vary, Zoom and Pan ask for the prompt first
    model: str | None = None  # /settings model: the catalogue name used where a prompt names none
    mode: str | None = None  # /fast, /relax, /turbo: "fast" | "relax" | "turbo" where a prompt names none
    private: bool | None = None  # /settings private: results by DM instead of the channel
    suffix: str | None = None  # /prefer suffix: text appended to every prompt
    options: dict[str, str] | None = None  # /prefer option set: --NAME expands to the value
    style: str | None = None  # /settings style: the [styles.NAME] a bare --p applies

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> UserDefaults:
        data = data or {}
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
