"""Opening the database file for a command: migrated first, and created only by `migrate`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .db import Database
from .package_data import migrations_folder


class NoDatabase(LookupError):
    """A command that reads or changes data was pointed at a database file that is not there.

    Only `migrate` and the server create the database, so a typo in DATABASE_URL or a command
    started in the wrong directory never works on an empty database beside the server's.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(f"no database at {path}")
        self.path = path


def require_database(path: Path) -> None:
    if not path.is_file():
        raise NoDatabase(path)


async def apply_migrations(path: Path) -> list[str]:
    """Create the database if it is not there and apply pending migrations; the files applied."""
    async with _opened(path) as db:
        return await db.migrate(migrations_folder())


@asynccontextmanager
async def migrated_database(path: Path) -> AsyncIterator[Database]:
    """The existing database at `path`, migrated to the newest schema; closed on leaving."""
    require_database(path)
    async with _opened(path) as db:
        # An older database gets the columns the commands read, as the server would add them.
        await db.migrate(migrations_folder())
        yield db


@asynccontextmanager
async def _opened(path: Path) -> AsyncIterator[Database]:
    db = await Database.open(path)
    try:
        yield db
    finally:
        await db.close()
