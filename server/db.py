"""SQLite access: one writer connection for short BEGIN IMMEDIATE transactions, one reader, migrations."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000


class Database:
    """The payment store. Writes go through `write`, which commits whole or not at all."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        try:
            await writer.execute_fetchall("PRAGMA journal_mode=WAL")
            reader = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        return cls(writer, reader)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self._reader.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._reader.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `work` in one transaction. A cancelled caller does not cut it short: it finishes."""
        return await asyncio.shield(self._write(work))

    async def _write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        async with self._write_lock, self._transaction() as conn:
            return await work(conn)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        await self._writer.execute("BEGIN IMMEDIATE")
        try:
            yield self._writer
        except BaseException:
            await self._writer.rollback()
            raise
        await self._writer.commit()

    async def ping(self) -> None:
        """Raise if the database cannot answer a query."""
        await self.fetch_one("SELECT count(*) FROM schema_migrations")

    async def migrate(self, folder: Path) -> list[str]:
        """Apply the numbered SQL files not applied yet, each in its own transaction; return their names."""
        async with self._write_lock:
            await self._writer.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            await self._writer.commit()
            async with self._writer.execute("SELECT version FROM schema_migrations") as cursor:
                applied = {row[0] for row in await cursor.fetchall()}
            done = []
            for version, path in migration_files(folder):
                if version in applied:
                    continue
                script = path.read_text(encoding="utf-8")
                # Inlined (executescript takes no parameters); both come from a name MIGRATION_NAME checked.
                record = f"INSERT INTO schema_migrations VALUES ({version}, '{path.name}', {int(time.time())});"  # noqa: S608
                try:
                    # executescript commits whatever is open first, so the script carries its own BEGIN.
                    await self._writer.executescript(
                        f"BEGIN IMMEDIATE;\n{script}\n;{record}\nCOMMIT;"
                    )
                except aiosqlite.Error:
                    if self._writer.in_transaction:
                        await self._writer.rollback()
                    raise
                log.info("applied migration %s", path.name)
                done.append(path.name)
            return done


def migration_files(folder: Path) -> list[tuple[int, Path]]:
    """The migration files in order; a misnamed or duplicate-numbered file is an error, not skipped."""
    found: dict[int, Path] = {}
    for path in sorted(folder.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named like 0001_initial.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(
                f"{path}: migration number {version} is also used by {found[version].name}"
            )
        found[version] = path
    return sorted(found.items())


async def _connect(path: Path) -> aiosqlite.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions are exactly as written.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    # Fetched, not just executed: a PRAGMA statement left open keeps its lock on the file.
    await conn.execute_fetchall(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    await conn.execute_fetchall("PRAGMA foreign_keys=ON")
    # FULL: a commit survives power loss, not only a crash; payment state is worth the fsync.
    await conn.execute_fetchall("PRAGMA synchronous=FULL")
    return conn
