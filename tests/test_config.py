"""Configuration: the documented defaults, file and environment sources, and operator-facing errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imaginebot.core.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_config_toml_documents_exactly_the_defaults() -> None:
    assert load_settings(ROOT / "config.toml", {}).model_dump() == Settings().model_dump()


def test_interface_keys_and_defaults() -> None:
    s = Settings()
    assert s.discord.api_base_url == "https://discord.com/api/v10"
    assert s.discord.gateway_url == "wss://gateway.discord.gg/"
    assert s.discord.guild_ids == []
    assert s.database.url == "sqlite+aiosqlite:///imaginebot.db"
    assert s.gen.device == "auto"
    assert (s.quota.daily_jobs, s.quota.max_queued, s.quota.max_running) == (25, 10, 3)
    assert (s.queue.max_batch, s.queue.max_repeat, s.queue.max_permutations) == (8, 4, 16)
    assert s.queue.embedded_worker is True
    assert (s.queue.lease_seconds, s.queue.max_attempts) == (60, 3)
    assert s.admin.user_ids == []


def test_env_overrides_are_toml_literals_or_strings(tmp_path: Path) -> None:
    env = {
        "IMAGINEBOT_QUEUE__MAX_BATCH": "4",
        "IMAGINEBOT_QUEUE__EMBEDDED_WORKER": "false",
        "IMAGINEBOT_DISCORD__GUILD_IDS": "[1, 2]",
        "IMAGINEBOT_DATABASE__URL": "postgresql+asyncpg://bot@db/imaginebot",
        "IMAGINEBOT_GEN__MODEL": "/models/sd15",
    }
    s = load_settings(None, env)
    assert s.queue.max_batch == 4 and s.queue.embedded_worker is False
    assert s.discord.guild_ids == [1, 2]
    assert s.database.url.startswith("postgresql+asyncpg://")
    assert s.gen.model == "/models/sd15"


def test_file_then_env_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[quota]\ndaily_jobs = 5\nmax_queued = 2\n")
    s = load_settings(cfg, {"IMAGINEBOT_QUOTA__DAILY_JOBS": "7"})
    assert (s.quota.daily_jobs, s.quota.max_queued) == (7, 2)
    assert load_settings(None, {"IMAGINEBOT_CONFIG": str(cfg)}).quota.daily_jobs == 5


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"IMAGINEBOT_QUEUE__NOPE": "1"}, "unknown configuration key 'queue.nope'"),
        ({"IMAGINEBOT_NOPE__X": "1"}, "unknown configuration key 'nope'"),
        ({"IMAGINEBOT_QUEUE__MAX_BATCH": "lots"}, "'queue.max_batch'"),
        ({"IMAGINEBOT_QUEUE__MAX_BATCH": "0"}, "'queue.max_batch'"),
        ({"IMAGINEBOT_GEN__DEVICE": "tpu"}, "'gen.device': must be auto, cpu, cuda, cuda:N or mps"),
        ({"IMAGINEBOT_DATABASE__URL": "mysql://x"}, "'database.url'"),
        ({"IMAGINEBOT_QUOTA": "1"}, "IMAGINEBOT_<SECTION>__<KEY>"),
    ],
)
def test_bad_keys_and_values_name_the_key(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, env)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_key_in_file_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[gen]\nmodle = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown configuration key 'gen.modle'"):
        load_settings(cfg, {})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", {})


def test_cli_reports_a_bad_key_in_one_line_and_never_prints_the_token(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "IMAGINEBOT_QUEUE__MAX_BATCH": "nope",
        "DISCORD_TOKEN": "secret-token-xyz",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "imaginebot.app.cli", "parse", "a fox"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "queue.max_batch" in proc.stderr
    assert "secret-token-xyz" not in proc.stdout + proc.stderr
    assert "secret-token-xyz" not in repr(load_settings(None, {}))
