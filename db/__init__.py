"""Persistence: the durable job queue (also the history and the delivery outbox), users, quotas, bans,
settings and the admin audit log, on SQLite (embedded) or PostgreSQL (scaled out).

Start at `db.queue.Queue`. Schema changes only through the Alembic revisions in `db/migrations`.
This package never imports gen/, bot/, torch or discord.
"""
