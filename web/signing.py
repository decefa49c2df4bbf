"""Signed values: the session cookie, the OAuth2 `state` cookie and share links (itsdangerous, HMAC-SHA1
over a key only the server knows). A value that was changed, or signed with another key, reads as None
(or `ShareInvalid`); nothing here trusts what the browser sends back unsigned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

SESSION_SECONDS = 30 * 24 * 3600  # a sign-in lasts 30 days
STATE_SECONDS = 600  # a sign-in must come back from Discord within 10 minutes
MIN_SECRET = 16  # characters of web.secret at least


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: int
    name: str
    csrf: str  # echoed by every form this session posts


class ShareInvalid(Exception):
    """A share link whose signature does not hold (changed, cut short, or from another server)."""


@dataclass(frozen=True, slots=True)
class ShareGrant:
    job_id: str
    expires_at: datetime
    issued_at: datetime  # "Stop sharing" ends the links issued before it

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class Signer:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"the signing secret must be at least {MIN_SECRET} characters long")
        self._session = URLSafeTimedSerializer(secret, salt="imaginebot.session")
        self._state = URLSafeTimedSerializer(secret, salt="imaginebot.oauth-state")
        self._share = URLSafeSerializer(secret, salt="imaginebot.share")

    def session(self, data: SessionData) -> str:
        return self._session.dumps([str(data.user_id), data.name, data.csrf])

    def read_session(self, value: str | None) -> SessionData | None:
        if not value:
            return None
        try:
            user_id, name, csrf = self._session.loads(value, max_age=SESSION_SECONDS)
            return SessionData(int(user_id), str(name), str(csrf))
        except (BadSignature, ValueError, TypeError):
            return None

    def state(self, state: str, next_path: str) -> str:
        return self._state.dumps([state, next_path])

    def read_state(self, value: str | None) -> tuple[str, str] | None:
        if not value:
            return None
        try:
            state, next_path = self._state.loads(value, max_age=STATE_SECONDS)
            return str(state), str(next_path)
        except (BadSignature, ValueError, TypeError):
            return None

    def share(self, job_id: str, expires_at: datetime, issued_at: datetime) -> str:
        return self._share.dumps([job_id, int(expires_at.timestamp()), int(issued_at.timestamp() * 1000)])

    def read_share(self, token: str) -> ShareGrant:
        """The grant a share link carries (expired or not); raises ShareInvalid for a forged one."""
        try:
            job_id, expires, issued = self._share.loads(token)
            return ShareGrant(
                str(job_id),
                datetime.fromtimestamp(int(expires), UTC),
                datetime.fromtimestamp(int(issued) / 1000, UTC),
            )
        except (BadSignature, ValueError, TypeError, OverflowError, OSError):
            raise ShareInvalid(token) from None
