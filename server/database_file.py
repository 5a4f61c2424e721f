"""Opening the database for a command: migrated first, and (SQLite's file) created only by `migrate`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .config import redact_url
from .db import Database
from .package_data import migrations_folder
from .postgresql import PostgresError
from .storage import open_database


class NoDatabase(LookupError):
    """A command that reads or changes data was pointed at a database file that is not there.

    Only `migrate` and the server create the database, so a typo in DATABASE_URL or a command
    started in the wrong directory never works on an empty database beside the server's.
    """

    def __init__(self, path: Path | str, why: str = "") -> None:
        where = path if isinstance(path, Path) else redact_url(path)
        super().__init__(f"no database at {where}" + (f" ({why})" if why else ""))
        self.path = path


def require_database(path: Path | str) -> None:
    """Raise NoDatabase when SQLite's file is missing; a PostgreSQL database is checked by connecting."""
    if isinstance(path, Path) and not path.is_file():
        raise NoDatabase(path)


async def apply_migrations(path: Path | str) -> list[str]:
    """Create the database if it is not there and apply pending migrations; the files applied."""
    async with _opened(path) as db:
        return await db.migrate(migrations_folder())


@asynccontextmanager
async def migrated_database(path: Path | str) -> AsyncIterator[Database]:
    """The existing database at `path` (SQLite's file, or a PostgreSQL URL), migrated to the newest schema; closed on leaving."""
    require_database(path)
    async with _opened(path) as db:
        # An older database gets the columns the commands read, as the server would add them.
        await db.migrate(migrations_folder())
        yield db


@asynccontextmanager
async def _opened(path: Path | str) -> AsyncIterator[Database]:
    try:
        db = await open_database(path)
    except PostgresError as exc:  # not there, or not reachable: the command cannot start
        raise NoDatabase(path, str(exc)) from exc
    try:
        yield db
    finally:
        await db.close()
