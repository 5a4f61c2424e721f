"""SQLite access: one writer that group-commits short transactions, one reader, and migrations."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000
MAX_BATCH = 256  # writes committed together at most; bounds how long one transaction holds the lock
_Work = tuple[Callable[["aiosqlite.Connection"], Awaitable[Any]], "asyncio.Future[Any]"]


class Database:
    """The payment store. Writes go through `write`, which commits whole or not at all."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._queue: list[_Work] = []
        self._committer: asyncio.Future[None] | None = None

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
        if self._committer is not None:
            await self._committer  # writes already accepted still commit
        await self._reader.close()
        await self._writer.close()

    # Each read runs to its end in one call on the reader's thread. Reads of several coroutines
    # share the reader: a cursor left half-read between awaits would hold its snapshot open, and
    # another coroutine's read after a commit would still see the database from before it.
    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._reader.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `work` in a transaction and return its result once that transaction has committed.

        Writes that arrive while a commit is under way are committed together, each in its own
        savepoint: one fsync serves many callers, and a failing `work` undoes only itself. A
        cancelled caller does not cut its write short: it commits all the same.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.ensure_future(self._commit_queued())
        return await asyncio.shield(future)

    async def _commit_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            async with self._write_lock:
                await self._commit(batch)

    async def _commit(self, batch: list[_Work]) -> None:
        conn = self._writer
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            await conn.execute("BEGIN IMMEDIATE")
            for work, future in batch:
                await conn.execute("SAVEPOINT work")
                try:
                    result = await work(conn)
                except Exception as exc:  # handed to that caller alone; the others commit
                    await conn.execute("ROLLBACK TO work")
                    outcomes.append((future, None, exc))
                else:
                    outcomes.append((future, result, None))
                await conn.execute("RELEASE work")
            await conn.commit()
        except BaseException as exc:
            if conn.in_transaction:
                await conn.rollback()
            failure = (
                exc if isinstance(exc, Exception) else RuntimeError("the write was interrupted")
            )
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            raise
        for future, result, error in outcomes:
            if future.done():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

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
