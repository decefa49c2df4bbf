"""Database fixtures: a real SQLite file and the local PostgreSQL server."""
