"""What the web gallery reads and writes: a user's jobs newest first (paged, filtered by kind, status and
prompt words), one job with its lineage, image bytes, the thumbnail cache, and the gallery's signing key.

Every read is a plain read transaction; the only writes are the thumbnail cache and the signing key, both
idempotent (a second writer of the same row changes nothing), so two gallery processes never conflict.
Who may see which job is the gallery's decision (web/), not this module's.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, true

from db.database import JOB_COLUMNS, Database
from db.models import Job, JobImage, JobThumbnail, ShareRevocation, WebKey
from db.records import JobImage as JobImageRecord
from db.records import JobRecord
from imaginebot.core.domain import JobKind, JobStatus

MAX_WORDS = 8  # prompt words a filter matches at most (each one a LIKE)


@dataclass(frozen=True, slots=True)
class GalleryFilter:
    """Which jobs a gallery page lists. `user_id` None: everyone's (what an operator may ask for)."""

    user_id: int | None
    kinds: tuple[JobKind, ...] = ()  # empty: every kind
    status: JobStatus | None = None
    text: str = ""  # words that must all appear in the prompt, any case


@dataclass(frozen=True, slots=True)
class GalleryPage:
    jobs: list[JobRecord]
    total: int  # jobs matching the filter, on every page
    page: int  # 1-based
    per_page: int
    with_images: frozenset[str] = frozenset()  # jobs of this page that still have images or a cover
    flagged: frozenset[str] = frozenset()  # jobs of this page with an image that image moderation flagged

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a job came from and what was made from it."""

    parent: JobRecord | None  # the job whose image this one started from (None: none, or deleted)
    children: list[JobRecord] = field(default_factory=list)  # upscales, variations, edits of it, oldest first


@dataclass(frozen=True, slots=True)
class Thumbnail:
    jpeg: bytes = field(repr=False)
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ImageSize:
    index: int
    width: int
    height: int
    flagged: bool = False  # image moderation flagged it


def _condition(f: GalleryFilter) -> ColumnElement[bool]:
    cond: ColumnElement[bool] = true()
    if f.user_id is not None:
        cond = and_(cond, Job.user_id == f.user_id)
    if f.kinds:
        cond = and_(cond, Job.kind.in_(list(f.kinds)))
    if f.status is not None:
        cond = and_(cond, Job.status == f.status)
    prompt = func.lower(Job.spec["prompt"].as_string())
    for word in f.text.lower().split()[:MAX_WORDS]:
        cond = and_(cond, prompt.contains(word, autoescape=True))
    return cond


class Gallery:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def page(self, f: GalleryFilter, page: int, per_page: int) -> GalleryPage:
        """Page `page` (1-based) of the jobs matching `f`, newest first. A page past the last one has no
        jobs (its `total` and `pages` say how many there are)."""
        if page < 1 or per_page < 1:
            raise ValueError(f"page and per_page must be at least 1, got {page} and {per_page}")
        cond = _condition(f)
        async with self._db.read() as conn:
            total = int((await conn.execute(select(func.count()).select_from(Job).where(cond))).scalar_one())
            if (page - 1) * per_page >= total:
                return GalleryPage([], total, page, per_page)
            stmt = (
                select(*JOB_COLUMNS)
                .where(cond)
                .order_by(Job.created_at.desc(), Job.id.desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
            rows = (await conn.execute(stmt)).mappings().all()
            ids = [r["id"] for r in rows]
            stored = select(JobImage.job_id).where(JobImage.job_id.in_(ids))
            covers = select(JobThumbnail.job_id).where(JobThumbnail.job_id.in_(ids), JobThumbnail.index == 0)
            shown = await conn.execute(stored.union(covers))
            with_images = frozenset(r[0] for r in shown)
            marked = await conn.execute(
                select(JobImage.job_id).where(JobImage.job_id.in_(ids), JobImage.flagged.is_(True)).distinct()
            )
            flagged = frozenset(r[0] for r in marked)
        jobs = [JobRecord.from_row(r) for r in rows]
        return GalleryPage(jobs, total, page, per_page, with_images, flagged)

    async def job(self, job_id: str) -> JobRecord | None:
        async with self._db.read() as conn:
            rows = await self._db.job_rows(conn, Job.id == job_id)
        return JobRecord.from_row(rows[0]) if rows else None

    async def lineage(self, job: JobRecord) -> Lineage:
        async with self._db.read() as conn:
            parent = None
            if job.parent_job_id is not None:
                rows = await self._db.job_rows(conn, Job.id == job.parent_job_id)
                parent = JobRecord.from_row(rows[0]) if rows else None
            children = await self._db.job_rows(
                conn, Job.parent_job_id == job.id, order=[Job.created_at, Job.id], limit=200
            )
        return Lineage(parent, [JobRecord.from_row(r) for r in children])

    async def image_sizes(self, job_id: str) -> list[ImageSize]:
        """The job's stored images (index, width, height), without their bytes."""
        stmt = (
            select(JobImage.index, JobImage.width, JobImage.height, JobImage.flagged)
            .where(JobImage.job_id == job_id)
            .order_by(JobImage.index)
        )
        async with self._db.read() as conn:
            return [ImageSize(r[0], r[1], r[2], bool(r[3])) for r in await conn.execute(stmt)]

    async def images(self, job_id: str, indexes: Sequence[int] | None = None) -> list[JobImageRecord]:
        """The job's images (all, or these indexes) in order; [] when it has none (any more)."""
        cond = JobImage.job_id == job_id
        if indexes is not None:
            cond = and_(cond, JobImage.index.in_(list(indexes)))
        stmt = select(JobImage.index, JobImage.png, JobImage.width, JobImage.height, JobImage.flagged)
        async with self._db.read() as conn:
            rows = await conn.execute(stmt.where(cond).order_by(JobImage.index))
            return [JobImageRecord(job_id, r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def thumbnail(self, job_id: str, index: int) -> Thumbnail | None:
        stmt = select(JobThumbnail.jpeg, JobThumbnail.width, JobThumbnail.height).where(
            JobThumbnail.job_id == job_id, JobThumbnail.index == index
        )
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else Thumbnail(row[0], row[1], row[2])

    async def store_thumbnail(self, job_id: str, index: int, thumb: Thumbnail) -> None:
        """Keep a thumbnail; one already stored (by another request or process) stays as it is."""
        values = {
            "job_id": job_id, "image_index": index, "jpeg": thumb.jpeg, "width": thumb.width,
            "height": thumb.height, "created_at": self._db.now(),
        }  # fmt: skip
        async with self._db.write() as conn:
            exists = await conn.execute(select(Job.id).where(Job.id == job_id))
            if exists.first() is None:
                return  # the job was deleted meanwhile
            stmt = self._db.insert(JobThumbnail).values(**values).on_conflict_do_nothing()  # type: ignore[attr-defined]
            await conn.execute(stmt)

    async def thumbnails_stored(self, job_id: str) -> list[int]:
        """Indexes of the job's cached thumbnails (0 is its cover)."""
        stmt = select(JobThumbnail.index).where(JobThumbnail.job_id == job_id).order_by(JobThumbnail.index)
        async with self._db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def revoke_shares(self, job_id: str, at: datetime) -> None:
        """Share links of the job made before `at` stop working (a later revocation moves the time on)."""
        insert = self._db.insert(ShareRevocation).values(job_id=job_id, revoked_at=at)
        stmt = insert.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["job_id"], set_={"revoked_at": at}
        )
        async with self._db.write() as conn:
            await conn.execute(stmt)

    async def shares_revoked_at(self, job_id: str) -> datetime | None:
        stmt = select(ShareRevocation.revoked_at).where(ShareRevocation.job_id == job_id)
        async with self._db.read() as conn:
            found: datetime | None = (await conn.execute(stmt)).scalar_one_or_none()
        return found

    async def signing_key(self, name: str) -> str:
        """The key called `name`, made (random, 256 bits) and stored the first time it is asked for; every
        process on this database gets the same one."""
        async with self._db.read() as conn:
            found = (await conn.execute(select(WebKey.value).where(WebKey.name == name))).scalar_one_or_none()
        if found is not None:
            return str(found)
        values = {"name": name, "value": secrets.token_urlsafe(32), "created_at": self._db.now()}
        async with self._db.write() as conn:
            insert = self._db.insert(WebKey).values(**values)
            await conn.execute(insert.on_conflict_do_nothing())  # type: ignore[attr-defined]
            return str((await conn.execute(select(WebKey.value).where(WebKey.name == name))).scalar_one())
