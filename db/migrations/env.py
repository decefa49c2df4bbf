"""Alembic environment for imaginebot.

`db.migrate` runs migrations programmatically on an open connection (config.attributes["connection"]).
Called from the alembic command line instead, the URL comes from `-x url=…`, else from imaginebot's
configuration (database.url), and an async engine is opened here.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from imaginebot.core.config import load_settings

    return load_settings().database.url


async def _run_async() -> None:
    from db.session import create_engine, writer

    engine = create_engine(_url())
    try:
        async with writer(engine).connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
