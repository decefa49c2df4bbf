"""What guild moderators decided, for their guild only: a pause, and per-member bans and daily limits.

A component the roles hold (like `Quotas`): every method runs inside the caller's transaction. Nothing
here is global: operators' decisions live in `users` and `queue_state`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import Database
from db.models import Guild, GuildMember, Job
from db.quota import Quotas, UserRow
from db.records import GuildQuota, QuotaInfo


@dataclass(frozen=True, slots=True)
class MemberRule:
    guild_id: int
    user_id: int
    banned: bool = False
    ban_reason: str | None = None
    daily_limit: int | None = None


@dataclass(frozen=True, slots=True)
class GuildRules:
    """The rules that apply to a group of (guild, user) pairs: paused guilds, and each pair's rule."""

    paused: frozenset[int]
    members: dict[tuple[int, int], MemberRule]

    def member(self, guild_id: int, user_id: int) -> MemberRule | None:
        return self.members.get((guild_id, user_id))


NO_RULES = GuildRules(frozenset(), {})


class Guilds:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def rules(self, conn: AsyncConnection, pairs: Iterable[tuple[int, int]]) -> GuildRules:
        """The pause flags and member rules for these (guild, user) pairs, in two small queries."""
        wanted = set(pairs)
        if not wanted:
            return NO_RULES
        guild_ids = sorted({g for g, _ in wanted})
        paused = (
            await conn.execute(select(Guild.id).where(Guild.id.in_(guild_ids), Guild.paused.is_(True)))
        ).scalars()
        m = GuildMember
        rows = await conn.execute(
            select(m.guild_id, m.user_id, m.banned, m.ban_reason, m.daily_limit).where(
                tuple_(m.guild_id, m.user_id).in_(sorted(wanted))
            )
        )
        members = {
            (r.guild_id, r.user_id): MemberRule(r.guild_id, r.user_id, r.banned, r.ban_reason, r.daily_limit)
            for r in rows
        }
        return GuildRules(frozenset(paused), members)

    async def member(self, conn: AsyncConnection, guild_id: int, user_id: int) -> MemberRule | None:
        return (await self.rules(conn, [(guild_id, user_id)])).member(guild_id, user_id)

    @staticmethod
    async def is_paused(conn: AsyncConnection, guild_id: int) -> bool:
        stmt = select(Guild.paused).where(Guild.id == guild_id)
        return bool((await conn.execute(stmt)).scalar_one_or_none())

    @staticmethod
    async def used_in_guild(conn: AsyncConnection, user_id: int, guild_id: int, since: datetime) -> int:
        """The member's charged jobs made in this guild since `since` (what a guild limit counts)."""
        stmt = select(func.count()).select_from(Job).where(
            Job.guild_id == guild_id, Job.user_id == user_id, Job.charged.is_(True), Job.created_at >= since
        )
        return int((await conn.execute(stmt)).scalar_one())

    async def quota(
        self, conn: AsyncConnection, quotas: Quotas, user_id: int, user: UserRow | None, guild_id: int | None
    ) -> QuotaInfo:
        """The user's quota today; with `guild_id`, also that guild's view of them (`QuotaInfo.guild`)."""
        info = await quotas.info(conn, user_id, user)
        if guild_id is None:
            return info
        return await self.with_guild(conn, info, guild_id, quotas.since(user, self._db.now()))

    async def with_guild(
        self, conn: AsyncConnection, info: QuotaInfo, guild_id: int, since: datetime
    ) -> QuotaInfo:
        """`info` with the guild's view of the member: its limit, ban, pause and their usage there."""
        rules = await self.rules(conn, [(guild_id, info.user_id)])
        rule = rules.member(guild_id, info.user_id) or MemberRule(guild_id, info.user_id)
        used = await self.used_in_guild(conn, info.user_id, guild_id, since)
        view = GuildQuota(
            guild_id, rule.daily_limit, used, rule.banned, rule.ban_reason, guild_id in rules.paused
        )
        return replace(info, guild=view)

    async def set_member(self, conn: AsyncConnection, guild_id: int, user_id: int, **values: Any) -> None:
        """Create or change the member's rule in this guild (only the given columns change)."""
        now = self._db.now()
        row = {"guild_id": guild_id, "user_id": user_id, "banned": False, "updated_at": now, **values}
        stmt = self._db.insert(GuildMember).values(**row)
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=[GuildMember.guild_id, GuildMember.user_id], set_={**values, "updated_at": now}
        )
        await conn.execute(stmt)

    async def set_paused(self, conn: AsyncConnection, guild_id: int, paused: bool) -> bool:
        """Pause or resume new jobs from this guild; whether the state changed."""
        was = await self.is_paused(conn, guild_id)
        now = self._db.now()
        stmt = self._db.insert(Guild).values(id=guild_id, paused=paused, updated_at=now)
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=[Guild.id], set_={"paused": paused, "updated_at": now}
        )
        await conn.execute(stmt)
        return was != paused
