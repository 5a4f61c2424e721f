"""The storage interface, and SQLite behind it: a writer thread that group-commits, a reader, WAL checkpoints, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import aiosqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000
CHECKPOINT_EVERY = 1.0  # seconds; the WAL holds at most about this much of writes beyond the file
MAX_BATCH = 256  # writes committed together at most; bounds how long one transaction holds the lock
WAL_LIMIT_BYTES = 64 * 1024 * 1024  # past this the writer checkpoints and truncates the WAL itself
RETRY_EVERY = 1.0  # seconds between attempts to write again once the disk was full
CHECK_EVERY = 1.0  # seconds a write check's answer is reused: health checks cost one write a second
CHECK_TIMEOUT = 2.0  # seconds a write check waits before calling the database unwritable
# Errors that say the disk, not the write, is at fault: writes wait until space returns.
_DISK_ERRORS = {sqlite3.SQLITE_FULL: "the disk is full", sqlite3.SQLITE_IOERR: "disk I/O error"}
# The base of every error a database raises; the PostgreSQL driver's errors are raised as these.
DatabaseError = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
_Outcome = tuple[Any, BaseException | None]


class Row(Protocol):
    """A row as reads and writes return it: by column name or position, and its column names."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def keys(self) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


class Cursor(Protocol):
    """What `Connection.execute` returns: the rows, and how many rows a change touched."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The connection a write's `work` gets, inside its transaction; `?` placeholders."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...


Work = Callable[[Connection], Any]


class DatabaseUnwritable(sqlite3.OperationalError):
    """Writes are refused until the disk takes them again; nothing was written. Retry later."""


UNKNOWN_FREE_BYTES = -1  # a database on another server: its disk is watched there, not here


@dataclass(frozen=True)
class WriteCheck:
    """Whether a tiny write commits now, and the room the database has on its disk."""

    problem: str  # why writes fail; empty when they commit
    free_bytes: int  # free space on the database's file system, for this process's user; or -1
    wal_bytes: int  # the write-ahead log beside the database file

    @property
    def writable(self) -> bool:
        return not self.problem


def disk_problem(exc: BaseException) -> str | None:
    """What is wrong with the disk, if `exc` is SQLite saying the disk failed; else None."""
    if isinstance(exc, DatabaseUnwritable):
        return str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    return _DISK_ERRORS.get(code & 0xFF)  # the primary code; extended ones add the detail


class Database(ABC):
    """The payment store. Writes go through `write`, which commits whole or not at all.

    Two implementations: SQLite (`SQLiteDatabase`, below) and PostgreSQL (`server.postgresql`).
    Domain code sees only this interface and writes SQL both accept, with `?` placeholders.
    """

    dialect: ClassVar[str]
    # Whether other processes may use the database at the same time (then work is claimed).
    shared: ClassVar[bool] = False
    # Appended to a SELECT that claims rows for this process; SQLite's one writer needs none.
    skip_locked: ClassVar[str] = ""

    @classmethod
    async def open(cls, path: Path, *, wal_limit_bytes: int = WAL_LIMIT_BYTES) -> Database:
        """The SQLite database at `path` (created if missing)."""
        return await SQLiteDatabase.open(path, wal_limit_bytes=wal_limit_bytes)

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    @abstractmethod
    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction; its result once committed. A cancelled caller's write still commits."""

    @abstractmethod
    async def check_writes(self) -> WriteCheck: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the database cannot answer a query."""

    @abstractmethod
    async def migrate(self, folder: Path) -> list[str]:
        """Apply the numbered SQL files not applied yet, each in its own transaction; their names."""

    @abstractmethod
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """Held by one process at a time: yields True when this one holds `name`, False when another does."""

    @abstractmethod
    def free_bytes(self) -> int: ...

    @abstractmethod
    def wal_bytes(self) -> int: ...

    @abstractmethod
    async def backup_to(self, target: Path) -> list[str]: ...


class SQLiteDatabase(Database):
    """The payment store in one SQLite file, for one process: one writer, group commit, WAL."""

    dialect = "sqlite"

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        writer_thread: ThreadPoolExecutor,
        reader: aiosqlite.Connection,
        checkpointer: aiosqlite.Connection,
        wal_limit_bytes: int,
    ) -> None:
        self._path = path
        self._wal_path = path.with_name(path.name + "-wal")
        self._wal_limit = wal_limit_bytes
        self._writer = writer
        self._writer_thread = writer_thread
        self._reader = reader
        self._checkpointer = checkpointer
        self._write_lock = asyncio.Lock()
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._committer: asyncio.Future[None] | None = None
        self._checkpoint: asyncio.Future[None] | None = None
        self._last_checkpoint = -float("inf")
        self._next_wal_trim = -float("inf")
        # One incident of a full or failing disk: what failed, when, and when to try again.
        self._unwritable: str | None = None
        self._unwritable_since = 0.0
        self._next_retry = 0.0
        self._check: WriteCheck | None = None
        self._checked_at = -float("inf")
        self._checking: asyncio.Future[str] | None = None
        self._held: set[str] = set()

    @classmethod
    async def open(cls, path: Path, *, wal_limit_bytes: int = WAL_LIMIT_BYTES) -> SQLiteDatabase:
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
        return cls(path, writer, writer_thread, reader, checkpointer, wal_limit_bytes)

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer  # writes already accepted still commit
        if self._checking is not None:
            await self._checking
        if self._checkpoint is not None:
            await self._checkpoint
        await self._checkpointer.close()
        await self._reader.close()
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._writer.close)
        self._writer_thread.shutdown()

    # Each read runs to its end in one call on the reader's thread. Reads of several coroutines
    # share the reader: a cursor left half-read between awaits would hold its snapshot open, and
    # another coroutine's read after a commit would still see the database from before it.
    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self._reader.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def write(self, work: Callable[[Connection], T]) -> T:
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
                if self._unwritable is not None and not await self._try_writing_again():
                    # Refused without touching the disk: a write that fails still grows the WAL
                    # into whatever space was freed, and the database would never get it back.
                    _fail(batch, DatabaseUnwritable(f"database unwritable: {self._unwritable}"))
                    continue
                try:
                    outcomes, wal_bytes = await loop.run_in_executor(
                        self._writer_thread, _commit_batch, self._writer, works, self._wal_path
                    )
                except Exception as exc:  # the whole batch failed; the writer goes on with the next
                    _fail(batch, self._blame_disk(exc))
                    continue
                except BaseException:
                    _fail(batch, RuntimeError("the write was interrupted"))
                    raise
            for (_, future), (result, error) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(self._blame_disk(error))
            if wal_bytes > self._wal_limit and loop.time() >= self._next_wal_trim:
                async with self._write_lock:  # after the callers have their answers
                    await self._trim_wal()
            self._checkpoint_soon()

    def _blame_disk(self, exc: BaseException) -> BaseException:
        """`exc`, or, when the disk failed, the start of an incident: logged once, writes wait."""
        problem = disk_problem(exc)
        if problem is None:
            return exc
        if self._unwritable is None:
            now = asyncio.get_running_loop().time()
            self._unwritable, self._unwritable_since = problem, now
            self._next_retry = now + RETRY_EVERY
            self._check, self._checked_at = None, -float("inf")
            log.error(
                "database unwritable (%s: %s); writes are refused until it takes them again",
                problem,
                exc,
            )
        failure = DatabaseUnwritable(f"database unwritable: {problem}")
        failure.__cause__ = exc
        return failure

    async def _try_writing_again(self) -> bool:
        """At most once a second: give the WAL's space back to the disk, then try a tiny write.

        The WAL first: it may have grown to fill the disk, and truncating it after a checkpoint
        is what frees room for the writes to come. Runs with the write lock held.
        """
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_retry:
            return False
        self._next_retry = loop.time() + RETRY_EVERY
        try:
            if not await loop.run_in_executor(self._writer_thread, _truncate_wal, self._writer):
                return False  # a reader held the WAL; the next attempt
            await loop.run_in_executor(self._writer_thread, _write_once, self._writer)
        except sqlite3.Error as exc:
            log.debug("database still unwritable: %s", exc)
            return False
        log.warning("database writable again after %.0f s", loop.time() - self._unwritable_since)
        self._unwritable = None
        self._check, self._checked_at = None, -float("inf")
        return True

    async def _trim_wal(self) -> None:
        """Start the WAL over from its beginning, on the writer's thread, between two batches.

        Under sustained writes the PASSIVE checkpoints never catch up and SQLite only starts the
        WAL over when one did: it grows for as long as the load lasts. Between batches no write
        is open, so this checkpoint copies every frame; the next commit writes over the start of
        the file, cut back to the limit, instead of growing it (regrowing a truncated file costs
        a file-system journal commit per fsync). Runs with the write lock held.
        """
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(
                self._writer_thread, _restart_wal, self._writer, self._wal_limit
            )
        except sqlite3.Error as exc:
            self._blame_disk(exc)
            done = False
        if not done:  # a reader kept an old snapshot, or the disk failed: not again at once
            self._next_wal_trim = loop.time() + CHECKPOINT_EVERY

    async def check_writes(self) -> WriteCheck:
        """Whether a tiny write commits within CHECK_TIMEOUT, reused for CHECK_EVERY.

        Asked by health checks anyone may send: at most one check is in flight and one runs a second.
        """
        loop = asyncio.get_running_loop()
        if self._check is not None and loop.time() - self._checked_at < CHECK_EVERY:
            return self._check
        if self._checking is None or self._checking.done():
            self._checking = asyncio.ensure_future(self._write_probe())
        try:
            problem = await asyncio.wait_for(asyncio.shield(self._checking), CHECK_TIMEOUT)
        except TimeoutError:
            problem = f"a write did not commit within {CHECK_TIMEOUT:g} s"
        self._check = WriteCheck(problem, self.free_bytes(), self.wal_bytes())
        self._checked_at = loop.time()
        return self._check

    async def _write_probe(self) -> str:
        try:
            await self.write(_touch)
        except sqlite3.Error as exc:
            return str(exc)
        return ""

    def free_bytes(self) -> int:
        return shutil.disk_usage(self._path.parent).free

    def wal_bytes(self) -> int:
        return _file_size(self._wal_path)

    def _checkpoint_soon(self) -> None:
        """Copy committed pages from the WAL into the database file, at most once a second.

        SQLite would otherwise do it inside a commit every 1,000 pages, and that commit's callers
        (a webhook and the push waiting on it) would wait for the copy and its fsync. Here it runs
        on a connection and thread of its own, in PASSIVE mode: writers and readers go on.
        """
        loop = asyncio.get_running_loop()
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        if self._unwritable is not None:  # the retry checkpoints first, on the writer's thread
            return
        if loop.time() - self._last_checkpoint < CHECKPOINT_EVERY:
            return
        self._last_checkpoint = loop.time()
        self._checkpoint = asyncio.ensure_future(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one copies what this one did not
            if disk_problem(exc) is None:
                log.warning("WAL checkpoint failed: %s", exc)

    async def ping(self) -> None:
        await self.fetch_one("SELECT count(*) FROM schema_migrations")

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        # One process owns a SQLite file, so holding a name within this process is enough.
        if name in self._held:
            yield False
            return
        self._held.add(name)
        try:
            yield True
        finally:
            self._held.discard(name)

    async def backup_to(self, target: Path) -> list[str]:
        """Copy the database to the new file `target` while writers go on; the copy's integrity problems.

        VACUUM INTO reads one snapshot, so the copy holds whole transactions only, and in WAL mode
        that read blocks no writer. It runs on the checkpointer's connection: checkpoints wait.
        """
        await self._checkpointer.execute_fetchall("VACUUM INTO ?", (str(target),))
        async with aiosqlite.connect(target) as copy:
            rows = await copy.execute_fetchall("PRAGMA integrity_check")
        return [str(row[0]) for row in rows if row[0] != "ok"]

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


def _fail(batch: list[tuple[Work, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def _commit_batch(
    conn: sqlite3.Connection, works: list[Work], wal_path: Path
) -> tuple[list[_Outcome], int]:
    """One transaction for the batch, each work in its own savepoint; runs on the writer's thread.

    Returns the outcomes and the WAL's size after the commit.
    """
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
    return outcomes, _file_size(wal_path)


def _touch(conn: Connection) -> None:
    """The smallest write that commits a page: the header's user_version, set to what it is."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA user_version = {int(version)}")


def _write_once(conn: sqlite3.Connection) -> None:
    """Commit a tiny write or raise why it did not commit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _touch(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _restart_wal(conn: sqlite3.Connection, limit_bytes: int) -> bool:
    """Checkpoint every frame so the next commit starts the WAL over; False if a reader held it back."""
    # On that restart SQLite cuts the file back to this size.
    conn.execute(f"PRAGMA journal_size_limit = {int(limit_bytes)}").fetchall()
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    return not busy


def _truncate_wal(conn: sqlite3.Connection) -> bool:
    """Checkpoint every frame and truncate the WAL to nothing; False if a reader held it back."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


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
