"""Load a Stable Diffusion (1.x/2.x, SDXL, SD 3/3.5) or FLUX.1 pipeline once, from whatever `gen.model` names.

`gen.model` may be:

- `"tiny"`: the tiny random-weight model (gen/tiny.py), built once into `<data_dir>/models/tiny-sd` and
  reused — the offline default;
- a local diffusers folder (with `model_index.json`) of any of those families;
- a single-file checkpoint (`.safetensors` / `.ckpt`, civitai style, original LDM key layout). Such a file
  holds weights only; the component configs and tokenizer come from `config_dir`, a local diffusers folder
  of the same architecture (e.g. a downloaded `stable-diffusion-v1-5` or SDXL base folder; for a tiny
  single file, the tiny folder). Without `config_dir` diffusers looks for its default configs for that
  architecture in the Hugging Face cache, which works offline only if they were fetched once. SD 1.x/2.x
  vs SDXL, and text-to-image vs inpainting (9 UNet input channels: its config folder must be an
  inpainting model's too), are detected from the checkpoint's keys. SD3 and FLUX ship as diffusers
  folders; their single files (often the transformer alone) are refused with a ModelLoadError that
  names the file and the family;
- a Hugging Face id (`org/name`), loaded from the local Hugging Face cache (downloaded when online).

Folders and ids go through `AutoPipelineForText2Image`; `img2img_pipeline()` and `inpaint_pipeline()` derive
the img2img and inpainting pipelines with `AutoPipelineFor….from_pipe`, which shares every module (no
second copy of the weights). A dedicated inpainting model (a UNet with 9 input channels; its folder's
model_index.json names StableDiffusion(XL)InpaintPipeline) loads the same way, as the text-to-image class
over the 9-channel UNet, so `from_pipe` keeps working; the engine then runs every job through the
inpainting pipeline (see gen.engine). Every failure becomes a `ModelLoadError` with a one-line message an
operator can act on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from gen.family import denoiser
from gen.quiet import quiet_progress_bars
from gen.tiny import INPAINT_CHANNELS, tiny_model_dir
from imaginebot.core.modelinfo import TINY_MODEL

log = logging.getLogger(__name__)

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
SUPPORTED_CLASSES = (
    "StableDiffusionPipeline",
    "StableDiffusionXLPipeline",
    "StableDiffusion3Pipeline",
    "FluxPipeline",
)
SUPPORTED_FAMILIES = "Stable Diffusion 1.x/2.x, SDXL, SD 3/3.5 and FLUX.1 models"
# Original-layout key fragments of the transformer families, which load from diffusers folders only.
SINGLE_FILE_TRANSFORMERS = (("joint_blocks.", "SD 3"), ("double_blocks.", "FLUX.1"))
LATENT_CHANNELS = 4  # a text-to-image UNet's input channels (a dedicated inpainting one has INPAINT_CHANNELS)


class ModelLoadError(ValueError):
    """The configured model cannot be loaded; the message is one line and says what to do."""


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` → cuda if available, else mps, else cpu; otherwise the named device (checked to exist)."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"gen.device is {device!r} but torch sees no CUDA GPU (use auto or cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ModelLoadError(f"gen.device is {device!r} but only {count} CUDA GPU(s) exist")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError("gen.device is 'mps' but MPS is not available on this machine (use auto or cpu)")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` → float16 on CUDA (fast, half the memory), float32 elsewhere (CPU half precision is slow)."""
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    try:
        value = getattr(torch, dtype)
    except AttributeError:
        value = None
    if not isinstance(value, torch.dtype):
        raise ModelLoadError(f"unknown dtype {dtype!r}: use auto, float16, bfloat16 or float32")
    return value


def _looks_like_path(ref: str) -> bool:
    return (
        ref.startswith(("/", "./", "../", "~", "\\"))
        or ref.lower().endswith(SINGLE_FILE_SUFFIXES)
        or ref.count("/") > 1
        or (len(ref) > 1 and ref[1] == ":")
        or (Path(ref).parent != Path(".") and Path(ref).expanduser().parent.is_dir())
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def checkpoint_keys(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names → shapes of a single-file checkpoint, reading as little as possible."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            state = torch.load(str(path), map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except Exception as exc:
        reason = _one_line(exc)
        if "weights only load failed" in reason.lower():
            reason = "not a plain-weights PyTorch file (needs unsafe unpickling; convert it to .safetensors)"
        raise ModelLoadError(f"cannot read checkpoint {path} (corrupt?): {reason}") from exc
    while isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"cannot read checkpoint {path}: it does not hold a state dict")
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


def detect_architecture(keys: dict[str, tuple[int, ...]], path: Path) -> str:
    """'sdxl' or 'sd' from original-layout key names; ModelLoadError for anything else."""
    for fragment, label in SINGLE_FILE_TRANSFORMERS:
        if any(fragment in k for k in keys):
            raise ModelLoadError(
                f"{path.name} is a {label} single-file checkpoint; imaginebot loads {label} models from "
                "diffusers folders only (set gen.model to the model's diffusers folder or Hugging Face id)"
            )
    if not any(k.startswith("model.diffusion_model.input_blocks.") for k in keys):
        sample = ", ".join(sorted(keys)[:2]) or "no tensors"
        raise ModelLoadError(
            f"{path.name} is not a Stable Diffusion 1.x/2.x/SDXL checkpoint "
            f"(unknown architecture; keys like {sample})"
        )
    conv_in = keys.get("model.diffusion_model.input_blocks.0.0.weight", (0, LATENT_CHANNELS))
    if len(conv_in) > 1 and conv_in[1] not in (LATENT_CHANNELS, INPAINT_CHANNELS):
        raise ModelLoadError(
            f"{path.name} is an instruct/depth checkpoint ({conv_in[1]} input channels); "
            "imaginebot needs a text-to-image or inpainting model"
        )
    return "sdxl" if any(k.startswith("conditioner.embedders.") for k in keys) else "sd"


def _load_single_file(path: Path, config_dir: Path | None, dtype: torch.dtype) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    keys = checkpoint_keys(path)
    arch = detect_architecture(keys, path)
    conv_in = keys.get("model.diffusion_model.input_blocks.0.0.weight", (0, LATENT_CHANNELS))
    inpainting = len(conv_in) > 1 and conv_in[1] == INPAINT_CHANNELS
    cls = StableDiffusionXLPipeline if arch == "sdxl" else StableDiffusionPipeline
    kwargs: dict[str, Any] = {"dtype": dtype}
    if config_dir is not None:
        config_dir = Path(config_dir).expanduser()
        index = config_dir / "model_index.json"
        if not index.is_file():
            raise ModelLoadError(f"config folder {config_dir} is not a diffusers model (no model_index.json)")
        class_name = json.loads(index.read_text(encoding="utf-8")).get("_class_name", "")
        if ("XL" in class_name) != (arch == "sdxl"):
            kind = "SDXL" if arch == "sdxl" else "SD 1.x/2.x"
            raise ModelLoadError(
                f"{path.name} is an {kind} checkpoint but config folder {config_dir} holds a "
                f"{class_name or 'different'} model; use configs of the same architecture"
            )
        if ("Inpaint" in class_name) != inpainting:
            kind = "an inpainting" if inpainting else "a text-to-image"
            raise ModelLoadError(
                f"{path.name} is {kind} checkpoint but config folder {config_dir} holds a "
                f"{class_name or 'different'} model; use the configs of the same kind of model"
            )
        kwargs.update(config=str(config_dir), local_files_only=True)
    try:
        return cls.from_single_file(str(path), **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:
        if config_dir is None and _is_offline_error(exc):
            raise ModelLoadError(
                f"{path.name} needs the diffusers configs of its architecture, which are not in the local "
                "Hugging Face cache: pass config_dir, a local diffusers folder of the same architecture, "
                "or run once with network access"
            ) from exc
        raise ModelLoadError(f"cannot load checkpoint {path}: {_one_line(exc)}") from exc


def _is_offline_error(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    offline = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError", "ConnectError"}
    text = str(exc).lower()
    hints = ("offline", "connect", "cannot find the requested")
    return bool(names & offline) or any(h in text for h in hints)


def load_error(setting: str, what: str, ref: str, exc: BaseException, *, local: bool) -> ModelLoadError:
    """The one-line error for a component (`what`, from the setting `setting`) that failed to load."""
    if not local and _is_offline_error(exc):
        return ModelLoadError(
            f"{setting}: {ref!r} is not in the local Hugging Face cache and the Hub cannot be reached; "
            "fetch it once online, or set it to a local folder"
        )
    return ModelLoadError(f"{setting}: cannot load {what} {ref}: {_one_line(exc)}")


def _load_pretrained(ref: str, dtype: torch.dtype, *, local: bool) -> Any:
    from diffusers import AutoPipelineForText2Image

    if local:
        index = Path(ref) / "model_index.json"
        if not index.is_file():
            raise ModelLoadError(f"{ref} is a folder but not a diffusers pipeline (no model_index.json)")
        try:
            class_name = json.loads(index.read_text(encoding="utf-8")).get("_class_name", "")
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{index} is not valid JSON: {_one_line(exc)}") from exc
        known = class_name.startswith("StableDiffusion") or class_name == "FluxPipeline"
        if not known or "Upscale" in class_name:
            raise ModelLoadError(
                f"{ref} holds a {class_name or 'unknown'} pipeline; imaginebot runs {SUPPORTED_FAMILIES} "
                "(unknown architecture)"
            )
    try:
        return AutoPipelineForText2Image.from_pretrained(ref, dtype=dtype)
    except ModelLoadError:
        raise
    except Exception as exc:
        if not local and _is_offline_error(exc):
            raise ModelLoadError(
                f"model {ref!r} is not in the local Hugging Face cache and the Hub cannot be reached; "
                "fetch it once online, or set gen.model to a local folder or .safetensors file"
            ) from exc
        where = "folder" if local else "Hugging Face model"
        raise ModelLoadError(f"cannot load {where} {ref}: {_one_line(exc)}") from exc


def set_scheduler(pipe: Any, name: str) -> None:
    """Replace the model's scheduler with the diffusers class `name`, keeping the model's schedule config."""
    import diffusers

    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise ModelLoadError(
            f"unknown scheduler {name!r}: use a diffusers scheduler class name such as "
            "EulerDiscreteScheduler, DPMSolverMultistepScheduler or DDIMScheduler (empty: the model's own)"
        )
    pipe.scheduler = cls.from_config(pipe.scheduler.config)


def load_pipeline(
    model_ref: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    scheduler: str = "",
    config_dir: str | Path | None = None,
    data_dir: Path = Path("data"),
    compile: bool = False,
) -> Any:
    """Load the text-to-image pipeline for `model_ref` on `device`; see the module docstring for refs.

    `compile` (CUDA only) puts a UNet in channels-last layout and wraps the UNet or transformer with
    `torch.compile`.
    Attention uses PyTorch's scaled-dot-product kernels (diffusers' default on torch ≥ 2).
    """
    quiet_progress_bars()
    import diffusers

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    ref = model_ref.strip()
    if not ref:
        raise ModelLoadError("gen.model is empty: set it to tiny, a folder, a .safetensors file or an id")
    pipe: Any
    if ref == TINY_MODEL:
        pipe = _load_pretrained(str(tiny_model_dir(Path(data_dir))), torch_dtype, local=True)
    else:
        path = Path(ref).expanduser()
        if path.is_dir():
            pipe = _load_pretrained(str(path), torch_dtype, local=True)
        elif path.is_file():
            if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
                raise ModelLoadError(f"{path} is neither a diffusers folder nor a .safetensors/.ckpt file")
            pipe = _load_single_file(path, Path(config_dir) if config_dir else None, torch_dtype)
        elif _looks_like_path(ref):
            raise ModelLoadError(f"model path {ref} does not exist")
        else:
            pipe = _load_pretrained(ref, torch_dtype, local=False)
    supported = tuple(getattr(diffusers, name) for name in SUPPORTED_CLASSES)
    if not isinstance(pipe, supported):  # e.g. a folder of another architecture that AutoPipeline knows
        raise ModelLoadError(f"{ref} loads as {type(pipe).__name__}; imaginebot runs {SUPPORTED_FAMILIES}")
    if scheduler:
        set_scheduler(pipe, scheduler)
    try:
        pipe.to(dev)
    except RuntimeError as exc:
        raise ModelLoadError(f"cannot move the model to {dev}: {_one_line(exc)}") from exc
    if compile and dev.type == "cuda":
        net = denoiser(pipe)
        if getattr(pipe, "unet", None) is not None:
            net.to(memory_format=torch.channels_last)
        net.compile()
    pipe.set_progress_bar_config(disable=True)
    log.info("loaded %s (%s) on %s as %s", ref, type(pipe).__name__, dev, torch_dtype)
    return pipe


def img2img_pipeline(pipe_t2i: Any) -> Any:
    """The img2img pipeline over the same modules (`from_pipe`: shared weights, no extra memory)."""
    from diffusers import AutoPipelineForImage2Image

    pipe = AutoPipelineForImage2Image.from_pipe(pipe_t2i)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inpaint_pipeline(pipe_t2i: Any) -> Any:
    """The inpainting pipeline over the same modules (`from_pipe`: shared weights, no extra memory).

    It drives a plain 4-channel UNet (blending the kept area's noised latents back in at every step) as
    well as a dedicated 9-channel inpainting UNet (mask and masked picture as extra inputs)."""
    from diffusers import AutoPipelineForInpainting

    pipe = AutoPipelineForInpainting.from_pipe(pipe_t2i)
    pipe.set_progress_bar_config(disable=True)
    return pipe
