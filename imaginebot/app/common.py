"""What the database commands share: opening the queue from the settings, and turning every failure an
operator can cause or fix (a bad configuration, an unreachable database, an outdated schema, an unknown
user or job) into one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from db.errors import NotFound
from db.migrate import check_schema
from db.policy import QueuePolicy
from db.queue import Queue
from db.session import DatabaseError, describe_error
from imaginebot.app import messages
from imaginebot.core.config import ConfigError, Settings


def open_queue(settings: Settings) -> Queue:
    """The queue on `database.url`, under the quota and queue settings (closed by `queue.close()`)."""
    return Queue.open(settings.database, QueuePolicy.from_settings(settings.quota, settings.queue))


def fail(message: str) -> int:
    print(f"imaginebot: {message}", file=sys.stderr)
    return 2


def guarded(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(work())
    except (ConfigError, DatabaseError) as exc:
        return fail(str(exc))
    except NotFound as exc:
        return fail(messages.not_found(exc))
    except (OSError, SQLAlchemyError) as exc:
        return fail(f"database error: {describe_error(exc)}")


def actor() -> str:
    """Who an admin command is written down as in the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def with_queue(settings: Settings, action: Callable[[Queue], Awaitable[int]]) -> int:
    queue = open_queue(settings)
    try:
        await check_schema(queue.engine)
        return await action(queue)
    finally:
        await queue.close()
