"""SQLite access: a writer thread that group-commits short transactions, a reader, WAL checkpoints, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000
CHECKPOINT_EVERY = 1.0  # seconds; the WAL holds at most about this much of writes beyond the file
MAX_BATCH = 256  # writes committed together at most; bounds how long one transaction holds the lock
# The driver's types, named here so that only this module imports the SQLite driver.
Connection = sqlite3.Connection  # the writer's connection, handed to every write
Row = sqlite3.Row  # what reads return (aiosqlite's Row is sqlite3's)
DatabaseError = sqlite3.Error  # the base of every error the driver raises
Work = Callable[[Connection], Any]
_Outcome = tuple[Any, BaseException | None]


class Database:
    """The payment store. Writes go through `write`, which commits whole or not at all."""

    def __init__(
        self,
        writer: sqlite3.Connection,
        writer_thread: ThreadPoolExecutor,
        reader: aiosqlite.Connection,
        checkpointer: aiosqlite.Connection,
    ) -> None:
        self._writer = writer
        self._writer_thread = writer_thread
        self._reader = reader
        self._checkpointer = checkpointer
        self._write_lock = asyncio.Lock()
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._committer: asyncio.Future[None] | None = None
        self._checkpoint: asyncio.Future[None] | None = None
        self._last_checkpoint = -float("inf")

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as undo:  # closes what was opened if a step fails
            # The writer connection lives on one thread of its own: a whole batch of writes runs
            # there in one call, instead of one round trip to a thread per statement.
            writer_thread = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="paydesk-db-writer"
            )
            undo.callback(writer_thread.shutdown)
            writer = await loop.run_in_executor(writer_thread, _connect_writer, path)
            undo.push_async_callback(loop.run_in_executor, writer_thread, writer.close)
            reader = await _connect_reader(path)
            undo.push_async_callback(reader.close)
            checkpointer = await _connect_reader(path)
            undo.pop_all()
        return cls(writer, writer_thread, reader, checkpointer)

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer  # writes already accepted still commit
        if self._checkpoint is not None:
            await self._checkpoint
        await self._checkpointer.close()
        await self._reader.close()
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._writer.close)
        self._writer_thread.shutdown()

    # Each read runs to its end in one call on the reader's thread. Reads of several coroutines
    # share the reader: a cursor left half-read between awaits would hold its snapshot open, and
    # another coroutine's read after a commit would still see the database from before it.
    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._reader.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in a transaction and return its result once that transaction has committed.

        `work` is a plain function: it runs on the writer's thread and must not touch the event
        loop. Writes that arrive while a commit is under way are committed together, each in its
        own savepoint: one fsync and one thread hop serve many callers, and a failing `work` undoes
        only itself. A cancelled caller does not cut its write short: it commits all the same.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.ensure_future(self._commit_queued())
        return await asyncio.shield(future)

    async def _commit_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            works = [work for work, _ in batch]
            async with self._write_lock:
                try:
                    outcomes = await loop.run_in_executor(
                        self._writer_thread, _commit_batch, self._writer, works
                    )
                except BaseException as exc:
                    failure = (
                        exc
                        if isinstance(exc, Exception)
                        else RuntimeError("the write was interrupted")
                    )
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(failure)
                    raise
            for (_, future), (result, error) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        """Copy committed pages from the WAL into the database file, at most once a second.

        SQLite would otherwise do it inside a commit every 1,000 pages, and that commit's callers
        (a webhook and the push waiting on it) would wait for the copy and its fsync. Here it runs
        on a connection and thread of its own, in PASSIVE mode: writers and readers go on.
        """
        loop = asyncio.get_running_loop()
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        if loop.time() - self._last_checkpoint < CHECKPOINT_EVERY:
            return
        self._last_checkpoint = loop.time()
        self._checkpoint = asyncio.ensure_future(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one copies what this one did not
            log.warning("WAL checkpoint failed: %s", exc)

    async def ping(self) -> None:
        """Raise if the database cannot answer a query."""
        await self.fetch_one("SELECT count(*) FROM schema_migrations")

    async def migrate(self, folder: Path) -> list[str]:
        """Apply the numbered SQL files not applied yet, each in its own transaction; return their names."""
        async with self._write_lock:
            return await asyncio.get_running_loop().run_in_executor(
                self._writer_thread, _migrate, self._writer, folder
            )


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


def _commit_batch(conn: sqlite3.Connection, works: list[Work]) -> list[_Outcome]:
    """One transaction for the batch, each work in its own savepoint; runs on the writer's thread."""
    outcomes: list[_Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for work in works:
            conn.execute("SAVEPOINT work")
            try:
                outcomes.append((work(conn), None))
            except Exception as exc:  # handed to that caller alone; the others commit
                conn.execute("ROLLBACK TO work")
                outcomes.append((None, exc))
            conn.execute("RELEASE work")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _migrate(conn: sqlite3.Connection, folder: Path) -> list[str]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    done = []
    for version, path in migration_files(folder):
        if version in applied:
            continue
        script = path.read_text(encoding="utf-8")
        # Inlined (executescript takes no parameters); both come from a name MIGRATION_NAME checked.
        record = (
            f"INSERT INTO schema_migrations VALUES ({version}, '{path.name}', {int(time.time())});"  # noqa: S608
        )
        try:
            # executescript commits whatever is open first, so the script carries its own BEGIN.
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\n;{record}\nCOMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("applied migration %s", path.name)
        done.append(path.name)
    return done


def _connect_writer(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions are exactly as written.
    # Made, used and closed on the writer's thread only (sqlite3 checks that).
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        conn.execute(pragma).fetchall()
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    # Checkpoints run on their own connection (Database._checkpoint_soon), never inside a commit.
    conn.execute("PRAGMA wal_autocheckpoint=0").fetchall()
    return conn


async def _connect_reader(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    for pragma in _PRAGMAS:
        await conn.execute_fetchall(pragma)
    return conn


# Fetched, not just executed: a PRAGMA statement left open keeps its lock on the file.
_PRAGMAS = (
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    # FULL: a commit survives power loss, not only a crash; payment state is worth the fsync.
    "PRAGMA synchronous=FULL",
)
