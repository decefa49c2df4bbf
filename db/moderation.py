"""Moderation's state: the banned words added at run time, members' strikes and timeouts, the audit log.

Scopes, as everywhere in /admin: the operators' list of words applies everywhere (stored with
`guild_id` 0, and `moderation.banned_words` from the config comes on top); a guild's moderators keep
their own list, which applies to prompts from that guild only. A refused prompt is a strike *in the scope
of the word it used*: a global word's strikes lead to a timeout everywhere and then a global ban, a
guild word's to a timeout and a ban in that guild only, so a moderator's list never reaches beyond their
guild. The ban is the ordinary one (`Admin.ban`, lifted with `/admin unban`, which also clears the strikes
of that scope). Every strike, timeout and ban writes an audit row in the same transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from db.admin import Admin, audit
from db.database import Database
from db.models import AdminAudit, BannedWord, Strike
from imaginebot.core.config import ModerationSettings
from imaginebot.core.moderation import MAX_WORD_LENGTH, clean_entry

GLOBAL = 0  # the guild_id of the operators' words and of global strikes
AUTOMATIC = "moderation"  # the audit log's actor for what moderation does by itself
AUDIT_PAGE = 20


@dataclass(frozen=True, slots=True)
class StrikeOutcome:
    """What a refused prompt led to: the member's strikes in that scope, and a timeout or a ban."""

    strikes: int
    guild_id: int | None  # the scope: None for a global word, else the guild whose word it was
    timeout_until: datetime | None = None
    banned: bool = False


@dataclass(frozen=True, slots=True)
class Timeout:
    until: datetime
    guild_id: int | None  # None: everywhere


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str
    user_id: int | None
    guild_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "user_id": self.user_id,
            "guild_id": self.guild_id,
        }


def _scope(guild_id: int | None) -> int:
    return GLOBAL if guild_id is None else guild_id


def _target(user_id: int, guild_id: int | None) -> str:
    return str(user_id) if guild_id is None else f"{user_id}@guild:{guild_id}"


class Moderation:
    """The moderation role: banned words (`/admin words`), strikes and timeouts, and reading the audit."""

    def __init__(self, database: Database, admin: Admin) -> None:
        self._db = database
        self._admin = admin

    # -- words ---------------------------------------------------------------------------------------

    async def words(self, guild_id: int | None) -> tuple[list[str], list[str]]:
        """The words added at run time that apply to a prompt from `guild_id`: (global, that guild's)."""
        scopes = [GLOBAL] if guild_id is None else [GLOBAL, guild_id]
        stmt = select(BannedWord.guild_id, BannedWord.word).where(BannedWord.guild_id.in_(scopes))
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt.order_by(BannedWord.word))).all()
        return [r.word for r in rows if r.guild_id == GLOBAL], [r.word for r in rows if r.guild_id != GLOBAL]

    async def list_words(self, guild_id: int | None) -> list[str]:
        """One scope's own list: the operators' (None) or a guild's."""
        stmt = (
            select(BannedWord.word).where(BannedWord.guild_id == _scope(guild_id)).order_by(BannedWord.word)
        )
        async with self._db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def add_word(self, word: str, *, actor: str, guild_id: int | None = None) -> tuple[str, bool]:
        """Add a word to the operators' list (None) or a guild's. Returns the word as stored (normalized)
        and whether it was new. ValueError for an entry with no letters or digits, or too long."""
        clean = _clean(word)
        now = self._db.now()
        async with self._db.write() as conn:
            stmt = self._db.insert(BannedWord).values(
                guild_id=_scope(guild_id), word=clean, added_by=actor, added_at=now
            )
            stmt = stmt.on_conflict_do_nothing().returning(BannedWord.word)  # type: ignore[attr-defined]
            added = (await conn.execute(stmt)).first() is not None
            if added:
                await audit(self._db, conn, actor, "word_add", _where(guild_id), clean, guild_id=guild_id)
        return clean, added

    async def remove_word(self, word: str, *, actor: str, guild_id: int | None = None) -> tuple[str, bool]:
        """Remove a word from one list. Returns the normalized word and whether it was there."""
        clean = _clean(word)
        async with self._db.write() as conn:
            stmt = delete(BannedWord).where(BannedWord.guild_id == _scope(guild_id), BannedWord.word == clean)
            removed = (await conn.execute(stmt.returning(BannedWord.word))).first() is not None
            if removed:
                await audit(self._db, conn, actor, "word_remove", _where(guild_id), clean, guild_id=guild_id)
        return clean, removed

    # -- strikes -------------------------------------------------------------------------------------

    async def strike(
        self, user_id: int, word: str, *, guild_id: int | None, rules: ModerationSettings
    ) -> StrikeOutcome:
        """Count a refused prompt against the member in the scope of the word (None: a global word; else
        the guild whose word it was). At `strikes_to_ban` the member is banned in that scope; from
        `strikes_to_timeout` on, each strike starts a timeout of `timeout_minutes`."""
        now = self._db.now()
        target = _target(user_id, guild_id)
        async with self._db.write() as conn:
            stmt = self._db.insert(Strike).values(
                guild_id=_scope(guild_id), user_id=user_id, count=1, timeout_until=None, updated_at=now
            )
            stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=[Strike.guild_id, Strike.user_id],
                set_={"count": Strike.count + 1, "updated_at": now},
            )
            count = int((await conn.execute(stmt.returning(Strike.count))).scalar_one())
            detail = f"banned word {word!r}; strike {count}"
            await audit(
                self._db, conn, AUTOMATIC, "strike", target, detail, user_id=user_id, guild_id=guild_id
            )
            until = None
            if rules.strikes_to_timeout <= count < rules.strikes_to_ban:
                until = now + timedelta(minutes=rules.timeout_minutes)
                await conn.execute(
                    update(Strike)
                    .where(Strike.guild_id == _scope(guild_id), Strike.user_id == user_id)
                    .values(timeout_until=until)
                )
                detail = f"{count} strikes; until {until:%Y-%m-%d %H:%M} UTC"
                await audit(
                    self._db, conn, AUTOMATIC, "timeout", target, detail, user_id=user_id, guild_id=guild_id
                )
        if count < rules.strikes_to_ban:
            return StrikeOutcome(count, guild_id, until)
        reason = f"{count} prompts refused by moderation (last: {word!r})"
        await self._admin.ban(user_id, reason=reason, actor=AUTOMATIC, guild_id=guild_id)
        return StrikeOutcome(count, guild_id, banned=True)

    async def strikes(self, user_id: int, guild_id: int | None = None) -> int:
        """The member's strikes in one scope."""
        stmt = select(Strike.count).where(Strike.guild_id == _scope(guild_id), Strike.user_id == user_id)
        async with self._db.read() as conn:
            return int((await conn.execute(stmt)).scalar_one_or_none() or 0)

    async def timeout(self, user_id: int, guild_id: int | None) -> Timeout | None:
        """The member's running timeout that applies in `guild_id` (a global one, or that guild's), the
        one ending last; None when they may submit."""
        scopes = [GLOBAL] if guild_id is None else [GLOBAL, guild_id]
        stmt = (
            select(Strike.timeout_until, Strike.guild_id)
            .where(
                Strike.user_id == user_id, Strike.guild_id.in_(scopes), Strike.timeout_until > self._db.now()
            )
            .order_by(Strike.timeout_until.desc())
            .limit(1)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return Timeout(row.timeout_until, None if row.guild_id == GLOBAL else row.guild_id)

    # -- the audit log -------------------------------------------------------------------------------

    async def audit_log(
        self, *, user_id: int | None = None, guild_id: int | None = None, limit: int = AUDIT_PAGE
    ) -> list[AuditEntry]:
        """The newest audit rows, newest first: all of them, or those concerning `user_id`; with
        `guild_id`, only that guild's (what its moderators may see)."""
        a = AdminAudit
        stmt = select(a.id, a.at, a.actor, a.action, a.target, a.reason, a.user_id, a.guild_id)
        if user_id is not None:
            stmt = stmt.where(a.user_id == user_id)
        if guild_id is not None:
            stmt = stmt.where(a.guild_id == guild_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt.order_by(a.id.desc()).limit(max(1, limit)))).all()
        return [
            AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.reason or "", r.user_id, r.guild_id)
            for r in rows
        ]

    async def audit_count(self, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        stmt = select(func.count()).select_from(AdminAudit)
        if user_id is not None:
            stmt = stmt.where(AdminAudit.user_id == user_id)
        if guild_id is not None:
            stmt = stmt.where(AdminAudit.guild_id == guild_id)
        async with self._db.read() as conn:
            return int((await conn.execute(stmt)).scalar_one())


def _clean(word: str) -> str:
    clean = clean_entry(word)
    if not clean:
        raise ValueError(f"{word!r} has no letters or digits to match")
    if len(clean) > MAX_WORD_LENGTH:
        raise ValueError(f"a banned word is at most {MAX_WORD_LENGTH} characters")
    return clean


def _where(guild_id: int | None) -> str:
    return "everywhere" if guild_id is None else f"guild:{guild_id}"
