"""db.moderation on SQLite and PostgreSQL: banned words by scope, strikes → timeout → ban, the audit log
(and `imaginebot admin audit`), and cancelling that refunds running jobs too."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from db.queue import CancelOutcome, Queue
from imaginebot.core.config import ModerationSettings
from imaginebot.core.domain import JobSpec, JobStatus

MODEL = "tiny"
GUILD = 555
RULES = ModerationSettings(strikes_to_timeout=2, timeout_minutes=30, strikes_to_ban=3)


async def test_words_are_kept_per_scope_normalized_and_audited(queue: Queue) -> None:
    mod = queue.moderation
    assert await mod.add_word("  Ｄｒａｇｏｎ ", actor="discord:1") == ("dragon", True)
    assert await mod.add_word("DRAGON", actor="discord:1") == ("dragon", False)
    assert await mod.add_word("Troll", actor="discord:2", guild_id=GUILD) == ("troll", True)
    assert await mod.words(None) == (["dragon"], [])
    assert await mod.words(GUILD) == (["dragon"], ["troll"])
    assert await mod.words(GUILD + 1) == (["dragon"], [])
    assert await mod.list_words(GUILD) == ["troll"] and await mod.list_words(None) == ["dragon"]
    with pytest.raises(ValueError, match="no letters"):
        await mod.add_word("!!!", actor="discord:1")
    assert await mod.remove_word("troll", actor="discord:2") == ("troll", False)  # not on the global list
    assert await mod.remove_word("TROLL", actor="discord:2", guild_id=GUILD) == ("troll", True)
    entries = await mod.audit_log()
    assert [(e.action, e.detail, e.guild_id) for e in entries] == [
        ("word_remove", "troll", GUILD), ("word_add", "troll", GUILD), ("word_add", "dragon", None),
    ]  # fmt: skip
    assert [e.action for e in await mod.audit_log(guild_id=GUILD)] == ["word_remove", "word_add"]


async def test_strikes_lead_to_a_timeout_then_a_ban(queue: Queue) -> None:
    mod, user = queue.moderation, 42
    [waiting] = await queue.admission.enqueue(user, [JobSpec("a")], model=MODEL)
    first = await mod.strike(user, "dragon", guild_id=None, rules=RULES)
    assert (first.strikes, first.timeout_until, first.banned) == (1, None, False)
    assert await mod.timeout(user, None) is None
    second = await mod.strike(user, "dragon", guild_id=None, rules=RULES)
    assert second.timeout_until is not None and not second.banned
    left = second.timeout_until - queue.database.now()
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)
    timeout = await mod.timeout(user, GUILD)  # a global timeout applies in every guild
    assert timeout is not None and timeout.until == second.timeout_until and timeout.guild_id is None
    third = await mod.strike(user, "dragon", guild_id=None, rules=RULES)
    assert third.banned and third.strikes == 3
    info = await queue.reads.quota_info(user)
    assert info.banned and "dragon" in (info.ban_reason or "")
    assert (await queue.reads.get_job(waiting.id)).status is JobStatus.CANCELLED  # the ban's usual effect
    actions = [(e.action, e.actor) for e in await mod.audit_log(user_id=user)]
    assert actions == [
        ("ban", "moderation"),
        ("strike", "moderation"),
        ("timeout", "moderation"),
        ("strike", "moderation"),
        ("strike", "moderation"),
    ]
    # An unban is a fresh start: the strikes of that scope are forgotten.
    await queue.admin.unban(user, actor="discord:1")
    assert await mod.strikes(user) == 0 and await mod.timeout(user, None) is None


async def test_a_guild_words_strikes_stay_in_that_guild(queue: Queue) -> None:
    mod, user = queue.moderation, 43
    for _ in range(2):
        await mod.strike(user, "troll", guild_id=GUILD, rules=RULES)
    assert (await mod.timeout(user, GUILD)) is not None
    assert await mod.timeout(user, GUILD + 1) is None and await mod.timeout(user, None) is None
    await mod.strike(user, "troll", guild_id=GUILD, rules=RULES)
    shown = await queue.reads.quota_show(user, GUILD)
    assert shown.guild is not None and shown.guild.banned and not shown.banned
    assert await mod.strikes(user) == 0 and await mod.strikes(user, GUILD) == 3


async def test_cancel_refunds_a_running_job_and_audits_owner_and_guild(queue: Queue) -> None:
    from db.queue import DeliveryTarget

    target = DeliveryTarget(guild_id=GUILD, channel_id=9)
    [job] = await queue.admission.enqueue(7, [JobSpec("a")], model=MODEL, delivery=target)
    await queue.lifecycle.claim("w", model=MODEL, max_images=4)
    assert await queue.admin.cancel(job.id, actor="discord:1", guild_id=GUILD) is CancelOutcome.STOPPING
    assert (await queue.reads.quota_info(7)).used_today == 0
    [entry] = await queue.moderation.audit_log(user_id=7)
    assert (entry.action, entry.target, entry.detail, entry.guild_id) == ("cancel", job.id, "stopping", GUILD)


async def test_cli_admin_audit(cli, queue: Queue) -> None:
    assert await cli("admin", "audit") == (0, "the audit log is empty\n", "")
    await queue.admin.quota_set(5, 3, actor="cli:ops")
    await queue.admin.ban(6, reason="spam", actor="discord:9", guild_id=GUILD)
    await queue.moderation.strike(5, "dragon", guild_id=None, rules=RULES)
    code, out, _ = await cli("admin", "audit")
    rows = out.splitlines()
    assert code == 0 and len(rows) == 3
    assert "moderation  strike  5  banned word 'dragon'; strike 1" in rows[0]
    assert "discord:9  ban  6@guild:555  spam  (guild 555)" in rows[1]
    assert "cli:ops  quota_set  5  3" in rows[2]
    code, out, _ = await cli("admin", "audit", "--user", "5", "--json")
    entries = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["action"] for e in entries] == ["strike", "quota_set"]
    assert set(entries[0]) == {"id", "at", "actor", "action", "target", "detail", "user_id", "guild_id"}
    code, out, _ = await cli("admin", "audit", "--guild", str(GUILD), "--limit", "5")
    assert code == 0 and len(out.splitlines()) == 1 and "ban" in out
    with pytest.raises(SystemExit) as exit_:  # argparse's own one-line error (tests/test_db_cli.py)
        await cli("admin", "audit", "--limit", "0")
    assert exit_.value.code == 2


async def test_migration_0007_fills_in_the_audit_logs_user_and_guild(empty_db_url: str) -> None:
    """Audit rows written before 0007 get their user and guild from their target; down and up again."""
    from datetime import UTC, datetime

    from sqlalchemy import column, insert, select, table

    from db import migrate
    from db.models import AdminAudit, UTCDateTime
    from db.session import create_engine

    now = datetime(2026, 12, 6, tzinfo=UTC)
    await migrate.upgrade(empty_db_url, "0006")
    engine = create_engine(empty_db_url)
    old = table(  # admin_audit as 0006 left it
        "admin_audit",
        column("at", UTCDateTime()),
        *(column(n) for n in ("actor", "action", "target", "reason")),
    )
    try:
        async with engine.begin() as conn:
            for target in ("12", f"13@guild:{GUILD}", "jobid", "queue"):
                await conn.execute(
                    insert(old).values(at=now, actor="cli:x", action="a", target=target, reason="")
                )
        await migrate.upgrade(empty_db_url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(AdminAudit.target, AdminAudit.user_id, AdminAudit.guild_id))
            ).all()
        assert sorted(rows) == sorted(
            [("12", 12, None), (f"13@guild:{GUILD}", 13, GUILD), ("jobid", None, None), ("queue", None, None)]
        )
        await migrate.downgrade(empty_db_url, "0006")
        await migrate.upgrade(empty_db_url)
    finally:
        await engine.dispose()
