"""`imaginebot admin …`, `imaginebot jobs` and `imaginebot db …` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fixtures_db import audit_actions, write_config

from db.queue import DeliveryTarget, Queue
from imaginebot.app.cli import main
from imaginebot.core.domain import GenResult, JobSpec

MODEL = "tiny"
JOB_KEYS = ["job_id", "user_id", "kind", "status", "attempts", "position", "guild_id", "delivered"]


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


async def test_admin_queue_json(cli, queue: Queue) -> None:
    a = await queue.admission.enqueue(1, [JobSpec("a")] * 2, model=MODEL)
    b = await queue.admission.enqueue(2, [JobSpec("b")], model=MODEL)
    [running] = await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    code, out, _ = await cli("admin", "queue", "--json")
    assert code == 0
    rows = lines(out)
    assert all(list(r) == JOB_KEYS for r in rows)
    assert rows[0] == {
        "job_id": running.id,
        "user_id": 1,
        "kind": "imagine",
        "status": "running",
        "attempts": 1,
        "position": None,
        "guild_id": None,
        "delivered": False,
    }
    assert [(r["job_id"], r["position"]) for r in rows[1:]] == [(b[0].id, 1), (a[1].id, 2)]
    code, out, _ = await cli("admin", "queue")
    assert code == 0 and out.splitlines()[0].split()[:6] == [
        "JOB",
        "USER",
        "KIND",
        "STATUS",
        "TRIES",
        "POSITION",
    ]


async def test_admin_stats_json(cli, queue: Queue) -> None:
    [job, _] = await queue.admission.enqueue(1, [JobSpec("a")] * 2, model=MODEL)
    await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    await queue.lifecycle.complete(job.id, "w", GenResult(job.id, [b"png"] * 4, 8, 8))
    code, out, _ = await cli("admin", "stats", "--json")
    assert code == 0
    assert lines(out) == [
        {
            "jobs_by_status": {"queued": 1, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0},
            "images": 4,
            "charged_today": 2,
        }
    ]


async def test_admin_quota_commands(cli, queue: Queue) -> None:
    code, _, err = await cli("admin", "quota", "show", "42", "--json")
    assert code == 2 and err.strip() == "imaginebot: unknown user 42: they have never used the bot"
    await queue.admission.enqueue(42, [JobSpec("a")] * 3, model=MODEL)
    code, out, _ = await cli("admin", "quota", "show", "42", "--json")
    assert code == 0 and lines(out) == [
        {
            "user_id": 42,
            "daily_limit": 25,
            "used_today": 3,
            "left_today": 22,
            "queued": 3,
            "running": 0,
            "banned": False,
            "fast_gpu_minutes": 0.0,
            "fast_minutes_used_today": 0.0,
        }
    ]
    assert (await cli("admin", "quota", "set", "42", "5"))[0] == 0
    assert (await queue.reads.quota_info(42)).left_today == 2
    assert (await cli("admin", "quota", "reset", "42"))[0] == 0
    assert (await queue.reads.quota_info(42)).left_today == 25
    assert (await cli("admin", "quota", "reset", "43"))[0] == 2
    code, out, _ = await cli("admin", "quota", "show", "42")
    assert code == 0 and "left today" in out


async def test_admin_ban_unban(cli, queue: Queue) -> None:
    code, out, _ = await cli("admin", "ban", "7", "--reason", "spam")
    assert code == 0 and "banned" in out
    info = await queue.reads.quota_info(7)
    assert info.banned and info.ban_reason == "spam"
    assert (await cli("admin", "unban", "7"))[0] == 0
    assert not (await queue.reads.quota_info(7)).banned
    code, _, err = await cli("admin", "unban", "8")
    assert code == 2 and len(err.strip().splitlines()) == 1


async def test_admin_cancel(cli, queue: Queue) -> None:
    [job] = await queue.admission.enqueue(1, [JobSpec("a")], model=MODEL)
    code, out, _ = await cli("admin", "cancel", job.id)
    assert code == 0 and "refunded" in out
    assert (await queue.reads.get_job(job.id)).status.value == "cancelled"
    code, _, err = await cli("admin", "cancel", "nosuchjob123")
    assert code == 2 and err.strip() == "imaginebot: no job with id 'nosuchjob123'"
    assert await audit_actions(queue) == ["cancel"]


async def test_admin_pause_resume(cli, queue: Queue) -> None:
    assert (await cli("admin", "pause"))[0] == 0
    assert await queue.reads.is_paused()
    code, out, _ = await cli("admin", "queue")
    assert code == 0 and "paused" in out
    assert (await cli("admin", "resume"))[0] == 0
    assert not await queue.reads.is_paused()


async def test_jobs_history_json(cli, queue: Queue) -> None:
    a = await queue.admission.enqueue(1, [JobSpec("a")] * 3, model=MODEL)
    b = await queue.admission.enqueue(2, [JobSpec("b")], model=MODEL)
    code, out, _ = await cli("jobs", "--json")
    assert code == 0
    rows = lines(out)
    assert [r["job_id"] for r in rows] == [b[0].id, a[2].id, a[1].id, a[0].id]
    assert all(list(r) == [*JOB_KEYS, "gpu_seconds", "mode"] for r in rows)
    code, out, _ = await cli("jobs", "--user", "1", "--limit", "2", "--json")
    assert [r["job_id"] for r in lines(out)] == [a[2].id, a[1].id]
    code, out, _ = await cli("jobs", "--status", "succeeded", "--json")
    assert code == 0 and out == ""
    code, out, _ = await cli("jobs")
    assert code == 0 and len(out.splitlines()) == 5
    code, _, err = await cli("jobs", "--user", "99")
    assert code == 2 and "unknown user 99" in err


async def test_db_commands_and_outdated_schema(empty_db_url: str, tmp_path: Path, capsys) -> None:
    config = str(write_config(tmp_path / "c.toml", empty_db_url))

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, [*argv, "--config", config])
        out, err = capsys.readouterr()
        return code, out, err

    code, _, err = await run("admin", "stats")
    assert (
        code == 2
        and err.strip() == "imaginebot: the database schema is out of date: run `imaginebot db upgrade`"
    )
    code, out, _ = await run("db", "current")
    assert code == 0 and "no schema" in out
    code, out, _ = await run("db", "upgrade")
    assert code == 0 and "up to date" in out
    assert (await run("admin", "stats"))[0] == 0
    code, out, _ = await run("db", "downgrade", "base")
    assert code == 0 and "no schema" in out


async def test_admin_guild_scoped_forms(cli, queue: Queue) -> None:
    """`--guild ID`: the per-guild forms a guild's moderators have, at the shell."""
    here, elsewhere = DeliveryTarget(500, 5000), DeliveryTarget(600, 6000)
    [mine] = await queue.admission.enqueue(42, [JobSpec("a")] * 1, model=MODEL, delivery=here)
    [other] = await queue.admission.enqueue(42, [JobSpec("b")] * 1, model=MODEL, delivery=elsewhere)

    code, out, _ = await cli("admin", "quota", "set", "42", "1", "--guild", "500")
    assert code == 0 and "guild 500" in out and "effective limit 1" in out
    code, out, _ = await cli("admin", "quota", "show", "42", "--guild", "500", "--json")
    [line] = lines(out)
    assert line["daily_limit"] == 25 and line["used_today"] == 2 and line["effective_limit"] == 1
    assert line["guild"] == {"guild_id": 500, "daily_limit": 1, "used_today": 1, "banned": False,
                             "paused": False}  # fmt: skip

    code, out, _ = await cli("admin", "queue", "--guild", "500", "--json")
    assert code == 0 and [(r["job_id"], r["guild_id"]) for r in lines(out)] == [(mine.id, 500)]
    code, _, err = await cli("admin", "cancel", other.id, "--guild", "500")
    assert code == 2 and "no job with id" in err

    assert (await cli("admin", "ban", "42", "--guild", "500"))[0] == 0
    info = await queue.reads.quota_show(42, 500)
    assert info.guild is not None and info.guild.banned and not info.banned
    assert (await queue.reads.get_job(mine.id)).status.value == "cancelled"
    assert (await queue.reads.get_job(other.id)).status.value == "queued"

    code, out, _ = await cli("admin", "pause", "--guild", "600")
    assert code == 0 and "guild 600 paused" in out
    assert await queue.reads.is_paused(600) and not await queue.reads.is_paused()


def test_job_ids_never_read_as_command_line_options() -> None:
    """A job id is typed after `admin cancel`, `jobs show`, `edit`: one starting with `-` would be taken
    for an option (1 id in 32 did before). 4,000 ids: each starts with a letter or digit."""
    from db.queue import new_job_id

    ids = {new_job_id() for _ in range(4000)}
    assert len(ids) == 4000
    assert all(job_id[0].isalnum() and len(job_id) == 12 for job_id in ids)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["admin", "quota", "set", "123", "9" * 20], f"argument N: {'9' * 20} is out of range: use 0"),
        (["admin", "quota", "set", "9" * 20, "3"], f"argument user: {'9' * 20} is out of range"),
        (["admin", "quota", "set", "12", "x"], "argument N: 'x' is not a whole number"),
        (["admin", "ban", "-5"], "argument user: -5 is out of range: use 0 to 9223372036854775807"),
        (["admin", "audit", "--limit", "0"], "argument --limit: 0 is out of range: use 1 to 1000"),
        (["imagine", "fox", "--user", "1e30"], "argument --user: '1e30' is not a whole number"),
    ],
)
def test_numbers_beyond_range_are_one_clear_line_not_a_traceback(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and expected in err and "Traceback" not in err
