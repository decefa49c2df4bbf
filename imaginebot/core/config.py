"""Configuration: declared once, typed, validated at start-up, overridable by the environment.

Sources, later wins: the model defaults below → the TOML file (`--config F`, else `IMAGINEBOT_CONFIG`,
else `./config.toml` when present) → `IMAGINEBOT_<SECTION>__<KEY>` environment variables, whose values
are read as TOML literals where they parse (`[1, 2]`, `false`, `8`) and as plain strings otherwise.
The Discord token is read only from `DISCORD_TOKEN` and is never part of the settings object's repr.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from imaginebot.core.modelinfo import TINY_MODEL
from imaginebot.core.moderation import clean_entry

ENV_PREFIX = "IMAGINEBOT_"
CONFIG_ENV = "IMAGINEBOT_CONFIG"
TOKEN_ENV = "DISCORD_TOKEN"
CLIENT_SECRET_ENV = "DISCORD_CLIENT_SECRET"


class ConfigError(Exception):
    """A configuration problem, worded for the operator (names the key and what is allowed)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DiscordSettings(_Section):
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    guild_ids: list[int] = Field(default_factory=list)
    progress_interval: float = Field(1.5, ge=0.5, le=60)

    @field_validator("api_base_url", "gateway_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError("must be a URL such as https://discord.com/api/v10")
        return v.rstrip("/") if v.startswith("http") else v


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///imaginebot.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_url(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError(
                "must be an async SQLAlchemy URL: sqlite+aiosqlite:///path.db or "
                "postgresql+asyncpg://user@host/dbname"
            )
        return v


class GenSettings(_Section):
    model: str = TINY_MODEL
    device: str = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    scheduler: str = ""
    config_dir: str = ""
    steps: int = Field(30, ge=1, le=150)
    base_resolution: int = Field(0, ge=0, le=2048)
    compile: bool = False
    # PNG encoding of a finished batch beside the next batch's denoising (off the generation thread):
    # auto = on a GPU, where it would otherwise idle the device; on a CPU both compete for the same cores.
    pipelined_encoding: Literal["auto", "on", "off"] = "auto"
    preview_interval: float = Field(1.5, ge=0.1, le=60)
    models_dir: str = "models"  # every diffusers folder or .safetensors/.ckpt file in it is a model
    loras_dir: str = "loras"  # <lora:NAME:W> finds NAME.safetensors here
    embeddings_dir: str = "embeddings"  # NAME.safetensors / NAME.pt: the word NAME in a prompt uses it
    max_loras: int = Field(4, ge=0, le=16)  # different LoRAs in one prompt at most
    max_loaded_models: int = Field(1, ge=1, le=16)  # pipelines a worker keeps loaded (LRU)
    serve_models: list[str] = Field(default_factory=list)  # a worker serves only these (empty: all)
    # Image prompts: IP-Adapter weights file (local path or owner/repo/[sub/]file; "" = img2img instead)
    ip_adapter: str = ""
    controlnets: dict[str, str] = Field(default_factory=dict)  # --cn KIND: a ControlNet folder or id a kind
    captioner: str = ""  # /describe: a transformers image-to-text model (folder or id); "" = no /describe
    image_hosts: list[str] = Field(default_factory=lambda: ["cdn.discordapp.com", "media.discordapp.net"])

    @field_validator("controlnets")
    @classmethod
    def _controlnet_kinds(cls, v: dict[str, str]) -> dict[str, str]:
        kinds = ("canny", "depth", "pose", "scribble", "tile")
        unknown = sorted(set(v) - set(kinds))
        if unknown:
            raise ValueError(f"unknown ControlNet kind {unknown[0]!r}: use {', '.join(kinds)}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        ok = v in ("auto", "cpu", "cuda", "mps") or (v.startswith("cuda:") and v[5:].isdigit())
        if not ok:
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return v


class QuotaSettings(_Section):
    daily_jobs: int = Field(25, ge=0)
    max_queued: int = Field(10, ge=1)
    max_running: int = Field(3, ge=1)
    fast_gpu_minutes: float = Field(0, ge=0)  # Fast time a user may spend a UTC day; 0 = unlimited
    turbo_factor: float = Field(2, ge=1, le=100)  # Fast time a Turbo job costs per second of GPU time
    relax_enabled: bool = True  # when Fast time runs out, jobs go to Relax (false: they are refused)


class QueueSettings(_Section):
    max_batch: int = Field(8, ge=1, le=64)
    max_repeat: int = Field(4, ge=1, le=40)
    max_permutations: int = Field(16, ge=1, le=100)
    embedded_worker: bool = True
    lease_seconds: float = Field(60, gt=0)
    max_attempts: int = Field(3, ge=1)
    unserved_after: float = Field(600, gt=0)  # seconds a queued job waits for a worker of its model
    model_switch_after: float = Field(30, gt=0)  # no model's oldest job waits longer for a switch
    relax_max_wait: float = Field(600, gt=0)  # seconds a Relax job waits behind Fast work at most
    poll_interval: float = Field(0.25, gt=0, le=10)


class ModelEntry(_Section):
    """`[models.NAME]`: adds a model to the catalogue, or describes one found in `gen.models_dir`."""

    path: str = ""  # Hugging Face id, diffusers folder or checkpoint file ("" = found in models_dir)
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    steps: int | None = Field(None, ge=1, le=150)
    guidance_scale: float | None = Field(None, ge=0, le=30)
    scheduler: str = ""
    base_resolution: int | None = Field(None, ge=64, le=2048)
    draft_lora: str = ""  # a LoRA (name in gen.loras_dir) that makes the model few-step, for --draft
    draft_steps: int | None = Field(None, ge=1, le=50)
    draft_guidance: float | None = Field(None, ge=0, le=30)


class StyleEntry(_Section):
    """`[styles.NAME]`: a personal style that `--p NAME` (or a member's /settings) applies to a prompt."""

    loras: dict[str, float] = Field(default_factory=dict)  # LoRA name in gen.loras_dir -> weight
    suffix: str = ""  # appended to the prompt text, after a comma
    description: str = ""

    @field_validator("loras")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for name, weight in v.items():
            if not -2 <= weight <= 2:
                raise ValueError(f"lora {name!r} has weight {weight}; use a weight from -2 to 2")
        return v


class AdminSettings(_Section):
    user_ids: list[int] = Field(default_factory=list)


class ModerationSettings(_Section):
    """Prompt moderation (imaginebot.core.moderation): words refused everywhere, and what strikes lead to.

    `/admin words add` adds more at run time (operators: everywhere; moderators: their guild)."""

    banned_words: list[str] = Field(default_factory=list)  # whole words, after NFKC and case folding
    strikes_to_timeout: int = Field(3, ge=1)  # refused prompts before a timeout
    timeout_minutes: int = Field(60, ge=1, le=40320)
    strikes_to_ban: int = Field(5, ge=1)  # refused prompts before a ban
    # Image moderation (gen.safety): "auto" = the model's own safety checker, else image_classifier.
    image_check: Literal["off", "auto"] = "auto"
    image_classifier: str = ""  # a transformers image-classification model: folder or Hugging Face id
    image_nsfw_labels: list[str] = Field(
        default_factory=lambda: ["nsfw", "porn", "hentai", "sexy", "explicit", "unsafe"]
    )  # a classifier's top label containing one of these words flags the image
    nsfw_action: Literal["spoiler", "block"] = "spoiler"  # flagged images outside NSFW channels

    @field_validator("banned_words")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        for word in v:
            if not clean_entry(word):
                raise ValueError(f"{word!r} has no letters or digits to match; remove it")
        return v


class AppSettings(_Section):
    data_dir: str = "data"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class MetricsSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


class WebSettings(_Section):
    """The web gallery (web/): sign in with Discord, the caller's jobs, share links. `DISCORD_CLIENT_SECRET`
    (the OAuth2 client secret) is read only from the environment."""

    enabled: bool = False  # `imaginebot run` serves it too (`imaginebot web` serves it alone)
    host: str = "127.0.0.1"
    port: int = Field(9109, ge=0, le=65535)
    public_url: str = ""  # how browsers reach it, e.g. https://gallery.example.org ("": http://host:port)
    client_id: int = Field(0, ge=0)  # the Discord application's id (OAuth2 client id)
    secret: str = Field("", repr=False)  # signs sessions and share links ("": made once, kept in the db)
    share_days: int = Field(7, ge=1, le=365)  # how long a new share link works
    page_size: int = Field(24, ge=4, le=200)  # jobs a gallery page

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. https://gallery.example.org")
        return v.rstrip("/")

class StorageSettings(_Section):
    """Retention (db.retention): images of jobs finished longer ago are deleted; the jobs stay as history."""

    keep_days: int = Field(30, ge=0, le=36500)  # 0: keep images for ever


class Settings(BaseSettings):
    """All of imaginebot's settings. Build with `load_settings()`, not directly."""

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)

    app: AppSettings = Field(default_factory=AppSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    gen: GenSettings = Field(default_factory=GenSettings)
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    styles: dict[str, StyleEntry] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *_: Any, **__: Any):  # type: ignore[no-untyped-def]
        # Only what load_settings() merged: the file and IMAGINEBOT_* are handled there, so that
        # values are parsed as TOML literals and unknown keys are reported by name.
        return (init_settings,)

    @property
    def data_dir(self) -> Path:
        return Path(self.app.data_dir).expanduser()

    @staticmethod
    def discord_token() -> SecretStr | None:
        token = os.environ.get(TOKEN_ENV, "").strip()
        return SecretStr(token) if token else None

    @staticmethod
    def discord_client_secret() -> SecretStr | None:
        """The OAuth2 client secret the web gallery signs users in with (`DISCORD_CLIENT_SECRET`)."""
        secret = os.environ.get(CLIENT_SECRET_ENV, "").strip()
        return SecretStr(secret) if secret else None


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        rest = name[len(ENV_PREFIX) :]
        section, sep, key = rest.partition("__")
        if not sep or not key:
            raise ConfigError(
                f"environment variable {name} is not of the form {ENV_PREFIX}<SECTION>__<KEY>, "
                f"e.g. {ENV_PREFIX}DATABASE__URL"
            )
        out.setdefault(section.lower(), {})[key.lower()] = _parse_env_value(raw)
    return out


def config_path(
    explicit: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Path | None:
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    default = Path("config.toml")
    return default if default.is_file() else None


def _describe(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown configuration key '{key}'"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"configuration key '{key}': {msg} (got {err.get('input')!r})"


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError with a one-line reason."""
    env = dict(os.environ if environ is None else environ)
    file = config_path(path, env)
    merged: dict[str, Any] = {}
    if file is not None:
        try:
            merged = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {file} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {file} is not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"configuration file {file} is not text (UTF-8 TOML)") from None
        except OSError as exc:  # a folder, no permission, a name too long
            raise ConfigError(f"configuration file {file} cannot be read: {exc.strerror or exc}") from None
    for section, values in _env_overrides(env).items():
        target = merged.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"configuration key '{section}' must be a table")
        target.update(values)
    try:
        return Settings(**merged)
    except ValidationError as exc:
        errors = exc.errors()
        first = _describe(dict(errors[0]))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(first + more) from None
