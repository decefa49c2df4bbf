"""Reading a gallery page's query (`page`, `kind`, `status`, `q`, and for operators `user`): every value
is checked, and a bad one is a `BadParameter` whose message says what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from db.gallery import GalleryFilter
from imaginebot.core.domain import JobKind, JobStatus

MAX_PAGE = 999_999_999
MAX_TEXT = 200
_NUMBER = re.compile(r"[0-9]{1,20}")

UPSCALES = tuple(k for k in JobKind if k.is_upscale)
# What the kind filter offers: groups as Midjourney's Organize page has them, then each kind.
KIND_GROUPS: dict[str, tuple[JobKind, ...]] = {
    "grids": tuple(k for k in JobKind if not k.is_upscale),
    "upscales": UPSCALES,
    "edits": tuple(k for k in JobKind if k not in (JobKind.IMAGINE, JobKind.REROLL)),
    **{k.value: (k,) for k in JobKind},
}
STATUSES = {s.value: s for s in JobStatus}


class BadParameter(ValueError):
    """A query value the gallery cannot use; the message names it and what is allowed."""


@dataclass(frozen=True, slots=True)
class GalleryQuery:
    page: int = 1
    kind: str = ""  # "" = every kind
    status: str = ""  # "" = every status
    text: str = ""
    user: int | None = None  # operators: only this user's jobs

    def to_filter(self, user_id: int | None) -> GalleryFilter:
        return GalleryFilter(
            user_id=user_id if self.user is None else self.user,
            kinds=KIND_GROUPS.get(self.kind, ()),
            status=STATUSES.get(self.status),
            text=self.text,
        )

    def link(self, page: int) -> str:
        """This query's URL query string at another page."""
        values: dict[str, str] = {}
        if self.kind:
            values["kind"] = self.kind
        if self.status:
            values["status"] = self.status
        if self.text:
            values["q"] = self.text
        if self.user is not None:
            values["user"] = str(self.user)
        if page != 1:
            values["page"] = str(page)
        return "?" + urlencode(values) if values else "?"

    @property
    def filtered(self) -> bool:
        return bool(self.kind or self.status or self.text or self.user is not None)


def parse_query(query: Mapping[str, str], *, allow_user: bool) -> GalleryQuery:
    page = _page(query.get("page", "").strip())
    kind = query.get("kind", "").strip().lower()
    if kind in ("", "all"):
        kind = ""
    elif kind not in KIND_GROUPS:
        raise BadParameter(f"kind must be one of: all, {', '.join(KIND_GROUPS)} (got {kind[:40]!r})")
    status = query.get("status", "").strip().lower()
    if status in ("", "all"):
        status = ""
    elif status not in STATUSES:
        raise BadParameter(f"status must be one of: all, {', '.join(STATUSES)} (got {status[:40]!r})")
    text = " ".join(query.get("q", "").split())
    if len(text) > MAX_TEXT:
        raise BadParameter(f"the search text is too long: at most {MAX_TEXT} characters")
    user = None
    raw_user = query.get("user", "").strip()
    if raw_user and allow_user:
        if not _NUMBER.fullmatch(raw_user) or int(raw_user) >= 2**63:
            raise BadParameter("user must be a Discord user id (a whole number)")
        user = int(raw_user)
    return GalleryQuery(page, kind, status, text, user)


def _page(raw: str) -> int:
    if not raw:
        return 1
    if not _NUMBER.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadParameter(f"page must be a whole number from 1 to {MAX_PAGE} (got {raw[:40]!r})")
    return int(raw)


def kind_label(kind: JobKind) -> str:
    """A job kind as the gallery names it ("Upscale (Subtle)", "Zoom Out")."""
    labels = {
        JobKind.IMAGINE: "Imagine", JobKind.UPSCALE: "Upscale", JobKind.VARIATION: "Variation",
        JobKind.REROLL: "Re-roll", JobKind.UPSCALE_SUBTLE: "Upscale (Subtle)",
        JobKind.UPSCALE_CREATIVE: "Upscale (Creative)", JobKind.VARY_REGION: "Vary (Region)",
        JobKind.ZOOM_OUT: "Zoom Out", JobKind.PAN: "Pan", JobKind.MAKE_SQUARE: "Make Square",
    }  # fmt: skip
    return labels.get(kind, kind.value.replace("_", " ").title())
