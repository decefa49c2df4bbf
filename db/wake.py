"""Waking idle workers promptly when work arrives.

PostgreSQL: `LISTEN imaginebot_jobs` on a dedicated connection; enqueue, requeue, release and resume
`NOTIFY` it when they commit, so a worker on another host wakes at once. Everywhere: an in-process event
set by this process's own enqueues (the embedded worker next to the bot). Callers still poll with a
timeout: a notification can be missed (connection dropped), and SQLite has no cross-process signal.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import NOTIFY_CHANNEL, Database

log = logging.getLogger(__name__)


class Wakeup:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._event = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    def set(self) -> None:
        self._event.set()

    def _on_notify(self, *_: Any) -> None:
        self._event.set()

    async def __aenter__(self) -> Wakeup:
        self._db.add_waiter(self._event)
        if self._db.dialect == "postgresql":
            try:
                self._conn = await self._db.engine.connect()
                raw = await self._conn.get_raw_connection()
                self._driver = raw.driver_connection
                await self._driver.add_listener(NOTIFY_CHANNEL, self._on_notify)
            except Exception as exc:  # polling still works; say why we are not listening
                log.warning("cannot LISTEN for new jobs (%s); polling instead", exc)
                await self._close_conn()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._db.remove_waiter(self._event)
        await self._close_conn()

    async def _close_conn(self) -> None:
        if self._driver is not None:
            try:
                await self._driver.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            except Exception:
                log.debug("UNLISTEN failed", exc_info=True)
            self._driver = None
        if self._conn is not None:
            try:
                await self._conn.close()
            except Exception:
                log.debug("closing the LISTEN connection failed", exc_info=True)
            self._conn = None

    async def wait(self, seconds: float) -> bool:
        """Wait until woken or `seconds` pass; True when woken."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
            return True
        except TimeoutError:
            return False
        finally:
            self._event.clear()
