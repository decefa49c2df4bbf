"""Admission: turning enqueue requests into jobs, exactly within every limit, with group commit; and the
users' /settings, which decide what their prompts mean.

Concurrent `enqueue` calls in one process are gathered and admitted together in one write transaction
(group commit): a burst of /imagine commands costs one transaction, not one each. Inside it, each request
is still decided on its own, in arrival order, against counts that include the requests admitted before
it — all or nothing per request — so the limits hold exactly.

Exactness across processes: the transaction first locks the row of every user in the group (one
`INSERT … ON CONFLICT DO UPDATE … RETURNING`, in user id order so two processes cannot deadlock) and
only then counts, in a new statement — on PostgreSQL, under READ COMMITTED, that statement sees whatever
the previous lock holder committed. SQLite needs no row locks: the transaction is `BEGIN IMMEDIATE`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import Database, next_reset
from db.errors import (
    Banned,
    QueueFull,
    QueuePaused,
    QueueRefusal,
    QuotaExceeded,
    RelaxDisabled,
    SourceImageMissing,
)
from db.fast_time import reserve_fast_time
from db.guilds import GuildRules, Guilds, MemberRule
from db.job_inputs import image_prompt_rows
from db.models import JOB_ID_LENGTH, PROMPT_POSITION, PROMPT_ROLE, Job, JobImage, JobInput, User
from db.quota import Quotas, Usage, UserRow
from db.records import DeliveryTarget, JobRecord, SourceFile
from imaginebot.core.domain import (
    SEED_MAX,
    UPSCALE_STRENGTH,
    VARIATION_STRENGTHS,
    GenRequest,
    ImageRef,
    JobKind,
    JobSpec,
    JobStatus,
    UserDefaults,
    VariationStrength,
)
from imaginebot.core.edits import EditPlan, upscale_strength
from imaginebot.core.gpu_time import FAST, RELAX, fast_factor, request_units

log = logging.getLogger(__name__)

MAX_GROUP = 256  # requests admitted in one transaction at most


def new_job_id() -> str:
    """12 URL-safe characters (72 random bits): short enough for button custom ids and file names.

    Never starts with ``-`` or ``_``: an id such as ``-x3…`` would read as an option on the command
    line (``imaginebot admin cancel -x3…``) and looks like a typo in a file listing.
    """
    while True:
        job_id = secrets.token_urlsafe(JOB_ID_LENGTH * 3 // 4)
        if job_id[0].isalnum():
            return job_id


def default_strength(kind: JobKind, edit: EditPlan | None = None) -> float | None:
    if kind is JobKind.UPSCALE:
        return UPSCALE_STRENGTH
    if kind is JobKind.VARIATION:
        return VARIATION_STRENGTHS[VariationStrength.STRONG]
    if kind.is_upscale and edit is not None:
        return upscale_strength(edit.action)
    return None  # txt2img; inpainting repaints its mask from noise (strength 1)


def _check_kind(
    kind: JobKind, parent: ImageRef | None, source: SourceFile | None, edit: EditPlan | None
) -> None:
    """A programming error, not a user's: the arguments must fit the kind."""
    if parent is not None and source is not None:
        raise ValueError("a job has one source: a parent image or a file, not both")
    if kind.needs_source != (parent is not None or source is not None):
        raise ValueError(f"{kind.value} jobs {'need' if kind.needs_source else 'take no'} source image")
    needs_plan = kind.is_inpaint or (kind.is_upscale and kind is not JobKind.UPSCALE)
    if needs_plan != (edit is not None):
        raise ValueError(f"{kind.value} jobs {'need' if needs_plan else 'take no'} edit plan")


@dataclass
class Request:
    user_id: int
    rows: list[dict[str, Any]]
    parent: ImageRef | None
    now: datetime
    guild_id: int | None
    future: asyncio.Future[list[dict[str, Any]]] = field(repr=False)


class Admission:
    def __init__(self, database: Database, quotas: Quotas, guilds: Guilds) -> None:
        self._db = database
        self._quotas = quotas
        self._guilds = guilds
        self._pending: list[Request] = []
        self._admitter: asyncio.Task[None] | None = None

    async def enqueue(
        self,
        user_id: int,
        specs: Sequence[JobSpec],
        *,
        kind: JobKind = JobKind.IMAGINE,
        model: str,
        parent: ImageRef | None = None,
        source: SourceFile | None = None,
        strength: float | None = None,
        edit: EditPlan | None = None,
        delivery: DeliveryTarget | None = None,
        inputs: Sequence[SourceFile] = (),
        inputs_of: str | None = None,
    ) -> list[JobRecord]:
        """Admit all of `specs` as jobs for `user_id`, or none of them.

        In one write transaction (the user's row locked on PostgreSQL, BEGIN IMMEDIATE on SQLite; shared
        with concurrent enqueues of this process, see above): refuses with Banned, QueuePaused,
        QuotaExceeded (`daily_jobs` per UTC day, or the user's override; every spec is one job) or
        QueueFull (`max_queued` waiting jobs); otherwise inserts one job per spec, charged, with a random
        seed where the spec has none. Every kind but imagine/reroll has a source: `parent`, an image of a
        finished job (SourceImageMissing when that image does not exist), or `source`, an image file
        (stored with the job, in `job_inputs`). The edits carry their geometry in `edit`. A spec that
        names its model (`--model`, `--niji`) is queued for it; `model` is for the specs that do not.
        `inputs` are image prompts (`/imagine image`, leading URLs), fetched and checked by the caller:
        stored once per job in `job_inputs` (role "prompt"), in order. `inputs_of` (a re-roll's or a
        variation's job) gives the jobs that job's image prompts and stored embeddings instead.
        """
        if not specs:
            raise ValueError("enqueue needs at least one JobSpec")
        _check_kind(kind, parent, source, edit)
        if strength is None:
            strength = default_strength(kind, edit)
        if not self._db.policy.relax_enabled and any(spec.mode == RELAX for spec in specs):
            raise RelaxDisabled()
        now = self._db.now()
        copied: list[dict[str, Any]] = []
        if inputs_of is not None and not inputs:
            async with self._db.read() as conn:
                copied = await image_prompt_rows(conn, inputs_of)
        image_count = len(inputs) or sum(r["role"] == PROMPT_ROLE for r in copied)
        # Consecutive microseconds keep a request's jobs (repeats, permutations) in order in the queue.
        rows = [
            _job_row(
                user_id, spec, kind, model, parent, strength, edit, delivery, now + timedelta(microseconds=k),
                image_count,
            )
            for k, spec in enumerate(specs)
        ]
        for row in rows:
            row["fast_factor"] = fast_factor(row["mode"], self._db.policy.turbo_factor)
        for row in rows:
            row["_inputs"] = [_input_row(row["id"], 1, "source", source, now)] if source is not None else []
            row["_inputs"] += [
                _input_row(row["id"], PROMPT_POSITION + n, PROMPT_ROLE, image, now)
                for n, image in enumerate(inputs)
            ]
            row["_inputs"] += [{**c, "job_id": row["id"], "created_at": now} for c in copied]
        guild_id = delivery.guild_id if delivery else None
        rows = await self._admit(rows, user_id, parent, now, guild_id)
        return [JobRecord.from_row(r) for r in rows]

    async def get_settings(self, user_id: int) -> UserDefaults:
        async with self._db.read() as conn:
            data = (await conn.execute(select(User.settings).where(User.id == user_id))).scalar_one_or_none()
        return UserDefaults.from_json(data)

    async def set_settings(self, user_id: int, defaults: UserDefaults) -> None:
        async with self._db.write() as conn:
            await self._quotas.lock_user(conn, user_id, self._db.now())
            await conn.execute(update(User).where(User.id == user_id).values(settings=defaults.to_json()))

    # -- group commit --------------------------------------------------------------------------------

    async def _admit(
        self,
        request_rows: list[dict[str, Any]],
        user_id: int,
        parent: ImageRef | None,
        now: datetime,
        guild_id: int | None,
    ) -> list[dict[str, Any]]:
        """Hand the request to the admitter task and wait for its decision (the rows, or a QueueRefusal).

        A caller cancelled while waiting may still have its jobs admitted (like a cancellation that comes
        just after a commit); their delivery target still gets the result.
        """
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._pending.append(Request(user_id, request_rows, parent, now, guild_id, future))
        if self._admitter is None or self._admitter.done():
            self._admitter = asyncio.create_task(self._admit_pending(), name="imaginebot-admission")
        return await future

    async def _admit_pending(self) -> None:
        while self._pending:
            group = [r for r in self._pending[:MAX_GROUP] if not r.future.done()]
            del self._pending[:MAX_GROUP]
            if not group:
                continue
            try:
                outcomes = await self._admit_group(group)
            except Exception as exc:  # the transaction failed: nothing was admitted
                for r in group:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            for r, outcome in zip(group, outcomes, strict=True):
                if r.future.done():
                    continue
                if isinstance(outcome, QueueRefusal):
                    r.future.set_exception(outcome)
                else:
                    r.future.set_result(outcome)
            if any(not isinstance(o, QueueRefusal) for o in outcomes):
                self._db.wake_local()

    async def _admit_group(self, group: list[Request]) -> list[list[dict[str, Any]] | QueueRefusal]:
        now = max(r.now for r in group)
        outcomes: list[list[dict[str, Any]] | QueueRefusal] = []
        async with self._db.write() as conn:
            users = await self._quotas.lock_users(conn, sorted({r.user_id for r in group}), now)
            usage, paused = await self._quotas.usage_many(conn, users, now)
            pairs = {(r.guild_id, r.user_id) for r in group if r.guild_id is not None}
            rules = await self._guilds.rules(conn, pairs)
            guild_used = await self._guild_usage(conn, rules, users, now)
            admitted: list[dict[str, Any]] = []
            rates: dict[str, float] = {}
            for r in group:
                try:
                    self._decide(users[r.user_id], usage[r.user_id], paused, len(r.rows), r.now)
                    fast_cost = await reserve_fast_time(
                        conn, r.rows, self._quotas.fast_limit_for(users[r.user_id]), usage[r.user_id], rates,
                        self._db.policy.relax_enabled, r.now,
                    )
                    if r.guild_id is not None:
                        pair = (r.guild_id, r.user_id)
                        self._decide_guild(
                            r.guild_id,
                            rules.member(*pair),
                            r.guild_id in rules.paused,
                            guild_used.get(pair),
                            len(r.rows),
                            r.now,
                        )
                        if pair in guild_used:
                            guild_used[pair] += len(r.rows)
                    if r.parent is not None:
                        await _check_source(conn, r.parent)
                except QueueRefusal as refusal:
                    outcomes.append(refusal)
                    continue
                u = usage[r.user_id]
                n = len(r.rows)
                usage[r.user_id] = Usage(
                    u.used_today + n, u.queued + n, u.running, paused, u.fast_seconds + fast_cost
                )
                admitted += r.rows
                outcomes.append(r.rows)
            if admitted:
                inputs = [i for row in admitted for i in row.pop("_inputs", ())]
                await conn.execute(self._db.insert(Job), admitted)
                if inputs:
                    await conn.execute(self._db.insert(JobInput), inputs)
                await self._db.notify(conn)
        return outcomes

    async def _guild_usage(
        self, conn: AsyncConnection, rules: GuildRules, users: dict[int, UserRow], now: datetime
    ) -> dict[tuple[int, int], int]:
        """Today's jobs in the guild of every member that guild gave a daily limit (rare: one count each)."""
        used: dict[tuple[int, int], int] = {}
        for (guild_id, user_id), rule in rules.members.items():
            if rule.daily_limit is not None:
                since = self._quotas.since(users.get(user_id), now)
                used[guild_id, user_id] = await self._guilds.used_in_guild(conn, user_id, guild_id, since)
        return used

    @staticmethod
    def _decide_guild(
        guild_id: int, rule: MemberRule | None, paused: bool, used: int | None, n: int, now: datetime
    ) -> None:
        """The guild's own rules, after the global ones: its ban, its pause, its (lower) daily limit."""
        if rule is not None and rule.banned:
            raise Banned(rule.ban_reason, guild_id)
        if paused:
            raise QueuePaused(guild_id)
        if rule is not None and rule.daily_limit is not None and used is not None:
            if used + n > rule.daily_limit:
                raise QuotaExceeded(used, rule.daily_limit, n, next_reset(now), guild_id)

    def _decide(self, user: UserRow, usage: Usage, paused: bool, n: int, now: datetime) -> None:
        if user.banned:
            raise Banned(user.ban_reason)
        if paused:
            raise QueuePaused()
        limit = self._quotas.limit_for(user)
        if usage.used_today + n > limit:
            raise QuotaExceeded(usage.used_today, limit, n, next_reset(now))
        max_queued = self._db.policy.max_queued
        if usage.queued + n > max_queued:
            raise QueueFull(usage.queued, max_queued, n)


def _input_row(job_id: str, position: int, role: str, image: SourceFile, now: datetime) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "position": position,
        "role": role,
        "png": image.png,
        "width": image.width,
        "height": image.height,
        "created_at": now,
    }


async def _check_source(conn: AsyncConnection, parent: ImageRef) -> None:
    stmt = select(JobImage.job_id).where(JobImage.job_id == parent.job_id, JobImage.index == parent.index)
    if (await conn.execute(stmt)).first() is None:
        raise SourceImageMissing(parent.job_id, parent.index)


def _job_row(
    user_id: int,
    spec: JobSpec,
    kind: JobKind,
    model: str,
    parent: ImageRef | None,
    strength: float | None,
    edit: EditPlan | None,
    delivery: DeliveryTarget | None,
    now: datetime,
    image_count: int = 0,
) -> dict[str, Any]:
    seed = secrets.randbelow(SEED_MAX + 1) if spec.seed is None else spec.seed
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be between 0 and {SEED_MAX}, not {seed}")
    spec = replace(spec, seed=seed)
    job_id = new_job_id()
    # Only the number of image prompts matters to the key: placeholders stand for their bytes.
    request = GenRequest(job_id, kind, spec, seed, None, strength, edit, images=(b"",) * image_count)
    key = request.batch_key()
    d = delivery
    return {
        "id": job_id,
        "user_id": user_id,
        "kind": kind,
        "status": JobStatus.QUEUED,
        "model": spec.model or model,  # the prompt's --model/--niji, else the caller's default
        "spec": spec.to_json(),
        "seed": seed,
        "batch_key": key.as_json(),
        "image_count": kind.image_count,
        "parent_job_id": parent.job_id if parent else None,
        "parent_index": parent.index if parent else None,
        "strength": strength,
        "edit": edit.to_json() if edit is not None else None,
        "attempts": 0,
        "progress": 0,
        "failure": None,
        "error": None,
        "charged": True,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "guild_id": d.guild_id if d else None,
        "channel_id": d.channel_id if d else None,
        "interaction_id": d.interaction_id if d else None,
        "interaction_token": d.interaction_token if d else None,
        "token_expires_at": d.token_expires_at if d else None,
        "application_id": d.application_id if d else None,
        "progress_message_id": None,
        "result_message_id": None,
        "delivered_at": None,
        "delivery_attempts": 0,
        "mode": spec.mode or FAST,
        "fast_factor": 1.0,  # set by enqueue from the mode
        "gpu_estimate": None,  # set by _reserve_fast_time where the user has a Fast time limit
        "work_units": request_units(request),
    }
