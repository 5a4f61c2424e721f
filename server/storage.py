"""Opening the database a setting names: a SQLite file, or PostgreSQL at a postgresql:// URL."""

from __future__ import annotations

from pathlib import Path

from .db import WAL_LIMIT_BYTES, Database, SQLiteDatabase
from .postgresql import PostgresDatabase


async def open_database(
    location: Path | str, *, wal_limit_bytes: int = WAL_LIMIT_BYTES
) -> Database:
    """SQLite for a path (created if missing), PostgreSQL for a URL (Config.database gives either)."""
    if isinstance(location, Path):
        return await SQLiteDatabase.open(location, wal_limit_bytes=wal_limit_bytes)
    return await PostgresDatabase.connect(location)
