"""A job's life on a worker: claim, heartbeat, progress, completion, failure, release, lease expiry.
(Cancelling is not the worker's to do: see db/admin.py; the worker notices it as a lost lease.)

Every transition is a compare-and-set: `UPDATE jobs … WHERE id = :id AND status = :expected` (and, for a
worker, `AND lease_owner = :me`), so a stale worker — one whose lease expired and whose job was handed to
another worker — can never overwrite the newer state.

Jobs may run more than once: a worker that dies or stalls loses its lease, and the job is claimed again
(up to `queue.max_attempts` claims, then it fails and is refunded). That is safe because every side effect
is idempotent: images are written in the same transaction as the winning `running → succeeded` CAS and
keyed by (job_id, index), so a second run of the same job either loses the CAS and writes nothing, or
rewrites identical keys that already exist (`ON CONFLICT DO NOTHING`); a refund only clears `charged`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import presence
from db.claim import claim_statement
from db.database import RELEASED, Database
from db.job_inputs import embeds_row, parent_images, prompt_inputs, source_files
from db.models import Job, JobImage, JobInput, JobPreview, User
from db.records import ClaimedJob, ProgressUpdate, RequeueReport
from db.wake import Wakeup
from imaginebot.core.domain import Failure, GenResult, JobKind, JobSpec, JobStatus
from imaginebot.core.edits import EditPlan

log = logging.getLogger(__name__)


def _held(job_ids: Iterable[str], worker_id: str) -> ColumnElement[bool]:
    return and_(Job.id.in_(list(job_ids)), Job.status == JobStatus.RUNNING, Job.lease_owner == worker_id)


class Lifecycle:
    """The worker's role: claim jobs, hold their leases, report progress, and finish or hand them back."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def wakeup(self) -> Wakeup:
        """`async with lifecycle.wakeup() as wake: await wake.wait(timeout)` — see db/wake.py."""
        return Wakeup(self._db)

    async def claim(self, worker_id: str, *, model: str, max_images: int) -> list[ClaimedJob]:
        """Lease a fair batch of compatible queued jobs of `model` to `worker_id` (see db/claim.py).

        Returns [] when nothing is claimable (empty or paused queue, everyone at `quota.max_running`).
        Each claim counts one attempt. Parent images (upscale/variation) are loaded in the same transaction.
        """
        now = self._db.now()
        params: dict[str, object] = {
            "worker": worker_id,
            "model": model,
            "max_images": max(1, max_images),
            "now": now,
            # NULL: the claim stamps the lease with the database's clock (see Database.lease_now).
            "expires": None if self._db.db_lease_clock else now + self._db.lease,
            "max_running": self._db.policy.max_running,
            "relax_before": self._db.relax_before(now),
        }
        params["scan"] = max(1, max_images) + 32
        if self._db.dialect == "postgresql":
            params["lease"] = self._db.lease
        async with self._db.write() as conn:
            if self._db.dialect == "postgresql":
                # Plan the claim for the queue as it is now. A prepared statement's cached generic plan
                # is made once per connection, with the sizes of that moment: made while the queue was
                # nearly empty, it scans every queued job once per candidate (nested loops), and a
                # backlog of thousands then costs ~100 ms a claim instead of a few.
                await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
            rows = (await conn.execute(claim_statement(self._db.dialect), params)).mappings().all()
            if not rows:
                return []
            if self._db.dialect != "postgresql":  # PostgreSQL does it in the claim statement
                await self._mark_served(conn, sorted({r["user_id"] for r in rows}), now)
            sources = await parent_images(conn, [(r["parent_job_id"], r["parent_index"]) for r in rows])
            files = await source_files(conn, [r["id"] for r in rows if r["parent_job_id"] is None])
            prompts, embeds = await prompt_inputs(conn, [r["id"] for r in rows])
        jobs = [
            ClaimedJob(
                id=r["id"],
                user_id=r["user_id"],
                kind=JobKind(r["kind"]),
                spec=JobSpec.from_json(r["spec"]),
                seed=int(r["seed"]),
                strength=r["strength"],
                attempts=r["attempts"],
                image_count=r["image_count"],
                parent_job_id=r["parent_job_id"],
                parent_index=r["parent_index"],
                source_png=sources.get((r["parent_job_id"], r["parent_index"])) or files.get(r["id"]),
                edit=EditPlan.from_json(r["edit"]) if r["edit"] else None,
                images=tuple(prompts.get(r["id"], ())),
                image_embeds=embeds.get(r["id"]),
            )
            for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))
        ]
        log.debug("worker %s claimed %s", worker_id, [j.id for j in jobs])
        return jobs

    async def _mark_served(self, conn: AsyncConnection, user_ids: list[int], now: datetime) -> None:
        """Round-robin bookkeeping (SQLite; the PostgreSQL claim statement does this itself)."""
        await conn.execute(update(User).where(User.id.in_(user_ids)).values(last_claimed_at=now))

    async def heartbeat(self, worker_id: str, job_ids: Sequence[str]) -> set[str]:
        """Renew the leases; return the ids this worker still holds (a missing id was cancelled or lost)."""
        if not job_ids:
            return set()
        async with self._db.write() as conn:
            stmt = (
                update(Job).where(_held(job_ids, worker_id)).values(lease_expires_at=self._db.lease_until())
            )
            return set((await conn.execute(stmt.returning(Job.id))).scalars())

    async def held(self, worker_id: str, job_ids: Sequence[str]) -> set[str]:
        """Which of these jobs are still running under this worker's lease (a read; renews nothing)."""
        async with self._db.read() as conn:
            return set((await conn.execute(select(Job.id).where(_held(job_ids, worker_id)))).scalars())

    async def set_progress(
        self, job_id: str, worker_id: str, percent: int, preview_jpeg: bytes | None = None
    ) -> bool:
        return bool(await self.set_progress_many(worker_id, [ProgressUpdate(job_id, percent, preview_jpeg)]))

    async def set_progress_many(self, worker_id: str, updates: Sequence[ProgressUpdate]) -> set[str]:
        """Store progress (and the latest preview) of jobs this worker holds; returns those still held."""
        if not updates:
            return set()
        now = self._db.now()
        percent = {u.job_id: max(0, min(100, u.percent)) for u in updates}
        async with self._db.write() as conn:
            # One compare-and-set on the lease, like every transition: a worker that lost the job (lease
            # expired, job claimed again) changes nothing. The rows it updates stay locked until commit,
            # so the previews below are written only for runs it still holds.
            stmt = (
                update(Job)
                .where(_held(percent, worker_id))
                .values(progress=case(percent, value=Job.id, else_=Job.progress))
                .returning(Job.id)
            )
            held = set((await conn.execute(stmt)).scalars())
            mine = [u for u in updates if u.job_id in held]
            previews = [
                {"job_id": u.job_id, "jpeg": u.preview_jpeg, "updated_at": now}
                for u in mine
                if u.preview_jpeg
            ]
            if previews:
                ins = self._db.insert(JobPreview)
                await conn.execute(
                    ins.on_conflict_do_update(  # type: ignore[attr-defined]
                        index_elements=["job_id"],
                        set_={"jpeg": ins.excluded.jpeg, "updated_at": ins.excluded.updated_at},  # type: ignore[attr-defined]
                    ),
                    previews,
                )
        return held

    async def complete(self, job_id: str, worker_id: str, result: GenResult) -> bool:
        """`running → succeeded` with the images, if this worker still holds the lease. Idempotent."""
        return job_id in await self.complete_many(worker_id, [result])

    async def complete_many(self, worker_id: str, results: Sequence[GenResult]) -> set[str]:
        """Finish a batch in one transaction; returns the job ids whose CAS this worker won.

        Results of jobs the worker no longer holds (cancelled, or lease lost to another worker) are
        dropped without a trace. Images are keyed (job_id, index 1…n). A result's `gpu_seconds` (its
        share of the batch's device time) is stored in `jobs.gpu_seconds` by the same UPDATE; None
        leaves NULL.
        """
        if not results:
            return set()
        now = self._db.now()
        gpu = {r.job_id: r.gpu_seconds for r in results if r.gpu_seconds is not None}
        async with self._db.write() as conn:
            stmt = (
                update(Job)
                .where(_held([r.job_id for r in results], worker_id))
                .values(
                    status=JobStatus.SUCCEEDED,
                    progress=100,
                    finished_at=now,
                    failure=None,
                    error=None,
                    **({"gpu_seconds": case(gpu, value=Job.id, else_=Job.gpu_seconds)} if gpu else {}),
                    **RELEASED,
                )
                .returning(Job.id)
            )
            won = set((await conn.execute(stmt)).scalars())
            images = [
                {
                    "job_id": r.job_id,
                    "image_index": k,
                    "png": png,
                    "width": r.width,
                    "height": r.height,
                    "created_at": now,
                    "flagged": r.flags[k - 1] if len(r.flags) >= k else None,  # None: not checked
                }
                for r in results
                if r.job_id in won
                for k, png in enumerate(r.images, start=1)
            ]
            if images:
                # Only the transaction that wins the job's CAS above stores its images, and a job wins
                # it once, so there is nothing to conflict with (and a plain INSERT goes out as one
                # multi-row statement on PostgreSQL, where ON CONFLICT would make it one per image).
                await conn.execute(self._db.insert(JobImage), images)
            embeds = [embeds_row(r, now) for r in results if r.job_id in won and r.image_embeds is not None]
            if embeds:  # computed by this run: kept with the job for its retries and reruns
                await conn.execute(self._db.insert(JobInput), embeds)
            if won:
                await conn.execute(delete(JobPreview).where(JobPreview.job_id.in_(won)))
        return won

    async def fail(
        self, job_id: str, worker_id: str, failure: Failure, *, retry: bool, detail: str = ""
    ) -> JobStatus | None:
        """A system failure of a running job: `failure` says what kind, `detail` (stored in `jobs.error`,
        NULL when empty) what the engine said; the faces word both for their readers.

        retry=True (an unexpected error): back to `queued` while attempts < max_attempts, otherwise
        failed and refunded. retry=False (a deterministic failure, e.g. the engine's GenerationError): failed
        and refunded at once. Returns the new status, or None if this worker no longer held the job.
        """
        now = self._db.now()
        error = detail or None
        async with self._db.write() as conn:
            if retry:
                stmt = (
                    update(Job)
                    .where(_held([job_id], worker_id), Job.attempts < self._db.policy.max_attempts)
                    .values(status=JobStatus.QUEUED, progress=0, failure=failure, error=error, **RELEASED)
                    .returning(Job.id)
                )
                if (await conn.execute(stmt)).first() is not None:
                    await self._db.notify(conn)
                    self._db.wake_local()
                    return JobStatus.QUEUED
            stmt = (
                update(Job)
                .where(_held([job_id], worker_id))
                .values(
                    status=JobStatus.FAILED,
                    charged=False,
                    finished_at=now,
                    failure=failure,
                    error=error,
                    **RELEASED,
                )
                .returning(Job.id)
            )
            if (await conn.execute(stmt)).first() is None:
                return None
            await conn.execute(delete(JobPreview).where(JobPreview.job_id == job_id))
            return JobStatus.FAILED

    async def release(self, worker_id: str, job_ids: Sequence[str]) -> list[str]:
        """Give running jobs back to the queue without counting the attempt (a worker shutting down)."""
        if not job_ids:
            return []
        async with self._db.write() as conn:
            stmt = (
                update(Job)
                .where(_held(job_ids, worker_id))
                .values(
                    status=JobStatus.QUEUED,
                    attempts=Job.attempts - 1,
                    progress=0,
                    started_at=None,
                    **RELEASED,
                )
                .returning(Job.id)
            )
            released = list((await conn.execute(stmt)).scalars())
            if released:
                await self._db.notify(conn)
        self._db.wake_local()
        return released

    async def announce(self, worker_id: str, models: str | Sequence[str]) -> None:
        """This worker serves `models` now (see db/presence.py); call it as the worker loops."""
        await presence.announce(self._db, worker_id, [models] if isinstance(models, str) else models)

    def now(self) -> datetime:
        """The queue's clock (the one jobs' `created_at` is stamped with)."""
        return self._db.now()

    async def oldest_waiting(self, models: Sequence[str]) -> dict[str, datetime]:
        """When the oldest queued job of each of `models` (that has any) was submitted."""
        return await presence.oldest_waiting(self._db, models)

    async def retire(self, worker_id: str) -> None:
        """This worker stops serving (at shutdown)."""
        await presence.retire(self._db, worker_id)

    async def fail_unserved(self) -> list[str]:
        """Fail and refund queued jobs of models no worker has served for `unserved_after` seconds."""
        return await presence.fail_unserved(self._db)

    async def requeue_expired(self) -> RequeueReport:
        """Expired leases go back to `queued`, or to `failed` + refunded after queue.max_attempts claims."""
        now = self._db.now()
        expired = and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < self._db.lease_now())
        async with self._db.read() as conn:
            if not (await conn.execute(select(func.count()).select_from(Job).where(expired))).scalar_one():
                return RequeueReport([], [])
        max_attempts = self._db.policy.max_attempts
        async with self._db.write() as conn:
            failed = list(
                (
                    await conn.execute(
                        update(Job)
                        .where(expired, Job.attempts >= max_attempts)
                        .values(
                            status=JobStatus.FAILED,
                            charged=False,
                            finished_at=now,
                            failure=Failure.WORKER_LOST,
                            error=str(max_attempts),  # the detail: how many times it was claimed and lost
                            **RELEASED,
                        )
                        .returning(Job.id)
                    )
                ).scalars()
            )
            requeued = list(
                (
                    await conn.execute(
                        update(Job)
                        .where(expired)
                        .values(status=JobStatus.QUEUED, progress=0, **RELEASED)
                        .returning(Job.id)
                    )
                ).scalars()
            )
            if failed:
                await conn.execute(delete(JobPreview).where(JobPreview.job_id.in_(failed)))
            if requeued:
                await self._db.notify(conn)
        if requeued:
            self._db.wake_local()
        for job_id in requeued:
            log.warning("job %s: lease expired; queued again", job_id)
        for job_id in failed:
            log.warning("job %s: lease expired after %d attempts; failed and refunded", job_id, max_attempts)
        return RequeueReport(requeued, failed)
