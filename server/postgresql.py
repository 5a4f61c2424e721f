"""PostgreSQL behind the storage interface: pooled reads, one group-committing writer per process, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from .db import (
    CHECK_EVERY,
    CHECK_TIMEOUT,
    MAX_BATCH,
    UNKNOWN_FREE_BYTES,
    Connection,
    Cursor,
    Database,
    DatabaseError,
    IntegrityError,
    Row,
    Work,
    WriteCheck,
    migration_files,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

POOL_SIZE = 10  # connections per process for reads, locks and migrations; writes have their own
STATEMENT_TIMEOUT_S = 30.0  # one statement, a read or a write's (waiting for the write lock too)
CONNECT_TIMEOUT_S = 10.0
STATEMENT_CACHE = 1024  # prepared statements kept per connection: more than paydesk has
# A batch whose connection was lost before its commit runs again, this often in all; so does a
# work chosen as a deadlock's victim (possible only against a transaction outside paydesk's
# writes) or whose prepared statement another process's migration made stale.
WRITE_ATTEMPTS = 3
MIGRATION_LOCK = 0x70617964  # 'payd': one process migrates at a time
# 'paydeskW': held by the write transaction under way, whichever process runs it. Above 2**32,
# so no lock_key(name) of `exclusive` can be the same number.
WRITE_LOCK = 0x7061796465736B57
WRITER_NAME = "paydesk writer"  # how each process's writing connection shows in pg_stat_activity
PG_EXTRAS = "postgresql"  # the folder beside the numbered files with PostgreSQL's own SQL
PRELUDE = "prelude.sql"  # in it: applied before the numbered files; the others after them
# SQLSTATEs that say "run it again": serialization_failure, deadlock_detected.
_RETRY_STATES = {"40001", "40P01"}
# A write transaction starts in one round trip: READ COMMITTED, so each statement reads what
# committed before it; the write lock first, so what committed before is every earlier write;
# and the first work's savepoint. Between two works, one more round trip moves the savepoint on.
_BEGIN = (
    "BEGIN ISOLATION LEVEL READ COMMITTED;"
    f" SELECT pg_advisory_xact_lock({WRITE_LOCK}); SAVEPOINT work"
)
_NEXT_WORK = "RELEASE SAVEPOINT work; SAVEPOINT work"
_UNDO_WORK = "ROLLBACK TO SAVEPOINT work"
_Outcome = tuple[Any, BaseException | None]


class PostgresError(DatabaseError):
    """PostgreSQL refused a statement or could not be reached; `__cause__` holds the driver's error."""


class PostgresIntegrityError(IntegrityError):
    """A constraint (unique, foreign key, check) refused the change."""


class PostgresDatabase(Database):
    """The payment store in PostgreSQL, shared by any number of paydesk processes.

    Reads take a pooled connection each and no lock. Writes keep the semantics of SQLite's one
    writer across every process: each write transaction takes one cluster-wide advisory lock
    first and runs READ COMMITTED, so the writes of all processes run one at a time, each seeing
    every earlier commit, and none fails for a race. Within a process, writes group-commit as on
    SQLite: those that arrive while a transaction runs are committed together in the next one,
    each in its own savepoint, on this process's writing connection (`_Writer`).
    """

    dialect = "postgresql"
    shared = True
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self, url: str, pool: asyncpg.Pool, writer: _Writer, thread: ThreadPoolExecutor
    ) -> None:
        self.url = url  # for connections of their own (LISTEN), with the same credentials
        self._pool = pool
        self._writer = writer
        self._thread = thread
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._committer: asyncio.Future[None] | None = None
        self._check: WriteCheck | None = None
        self._checked_at = -float("inf")

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = POOL_SIZE) -> PostgresDatabase:
        """Open a pool and the writing connection to the database at `url` (postgresql://...)."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=STATEMENT_TIMEOUT_S,
                statement_cache_size=STATEMENT_CACHE,
                init=_init_connection,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise PostgresError(f"cannot connect to PostgreSQL: {exc}") from exc
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paydesk-db-writer")
        writer = _Writer(url)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(thread, writer.open)
        except BaseException:
            await loop.run_in_executor(thread, writer.close)
            await pool.close()
            thread.shutdown()
            raise
        return cls(url, pool, writer, thread)

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)  # accepted writes commit
        await self._pool.close()
        await asyncio.get_running_loop().run_in_executor(self._thread, self._writer.close)
        self._thread.shutdown()

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        statement = translate(sql)
        async with self._pool.acquire() as conn:
            result: Row | None = await _driver(conn.fetchrow(statement.sql, *params))
            return result

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        statement = translate(sql)
        async with self._pool.acquire() as conn:
            return list(await _driver(conn.fetch(statement.sql, *params)))

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction; its result once committed.

        `work` is a plain function run on the writer's thread. Writes that arrive while a
        transaction runs (or waits for the write lock) are committed together in the next one.
        A cancelled caller does not cut its write short: it commits all the same.
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
            try:
                outcomes = await loop.run_in_executor(self._thread, self._writer.commit, works)
            except Exception as exc:  # the whole batch failed; the next one tries again
                _fail(batch, exc)
                continue
            except BaseException:
                _fail(batch, PostgresError("the write was interrupted"))
                raise
            for (_, future), (result, error) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)

    async def check_writes(self) -> WriteCheck:
        """Whether a tiny transaction commits within CHECK_TIMEOUT, reused for CHECK_EVERY.

        PostgreSQL keeps its own disk: its free space is not this process's to read, so it is
        reported as UNKNOWN_FREE_BYTES (-1), and the problem, if any, says what failed.
        """
        loop = asyncio.get_running_loop()
        if self._check is not None and loop.time() - self._checked_at < CHECK_EVERY:
            return self._check
        problem = ""
        try:
            await asyncio.wait_for(self.write(_touch), CHECK_TIMEOUT)
        except TimeoutError:
            problem = f"a write did not commit within {CHECK_TIMEOUT:g} s"
        except DatabaseError as exc:
            problem = str(exc)
        self._check = WriteCheck(problem, self.free_bytes(), self.wal_bytes())
        self._checked_at = loop.time()
        return self._check

    def free_bytes(self) -> int:
        return UNKNOWN_FREE_BYTES

    def wal_bytes(self) -> int:
        return 0

    async def ping(self) -> None:
        await self.fetch_one("SELECT count(*) FROM schema_migrations")

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """A session advisory lock on a pooled connection, tried once: True when this process has it.

        Held for the block; if the process dies, PostgreSQL ends its session and the lock with it.
        """
        key = lock_key(name)
        async with self._pool.acquire() as conn:
            held = bool(await _driver(conn.fetchval("SELECT pg_try_advisory_lock($1)", key)))
            try:
                yield held
            finally:
                if held:
                    await _driver(conn.execute("SELECT pg_advisory_unlock($1)", key))

    async def backup_to(self, target: Path) -> list[str]:
        raise PostgresError(
            "paydesk backup copies SQLite files; on PostgreSQL use pg_dump "
            "(docs/operations.md: pg_dump --format=custom --file=paydesk.dump DATABASE_URL)"
        )

    async def migrate(self, folder: Path) -> list[str]:
        """The numbered files, translated, each in its own transaction, one process at a time.

        PostgreSQL's own SQL from `folder/postgresql/` runs too: `prelude.sql` (what SQLite has
        built in) before, the other files (the change notifications) after; all re-runnable.
        """
        extras = folder / PG_EXTRAS
        after = sorted(p for p in extras.glob("*.sql") if p.name != PRELUDE)
        done: list[str] = []
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                    await conn.execute((extras / PRELUDE).read_text(encoding="utf-8"))
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY,"
                        " name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
                    )
                for version, path in migration_files(folder):
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                        if await conn.fetchval(
                            "SELECT 1 FROM schema_migrations WHERE version = $1", version
                        ):
                            continue
                        await conn.execute(translate_ddl(path.read_text(encoding="utf-8")))
                        await conn.execute(
                            "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                            version,
                            path.name,
                            int(time.time()),
                        )
                    log.info("applied migration %s", path.name)
                    done.append(path.name)
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                    for path in after:
                        await conn.execute(path.read_text(encoding="utf-8"))
            except asyncpg.PostgresError as exc:
                raise _wrapped(exc) from exc
        return done


def lock_key(name: str) -> int:
    """The advisory lock's number for `name`: the same in every process, signed 64-bit."""
    return zlib.crc32(b"paydesk:" + name.encode()) - 2**31


class _Statement:
    """A statement of `?` placeholders in PostgreSQL's `$n` form, and whether it returns rows."""

    __slots__ = ("returns_rows", "sql")

    def __init__(self, sql: str, returns_rows: bool) -> None:
        self.sql = sql
        self.returns_rows = returns_rows


# Quoted text, quoted names and comments, whose `?` are not placeholders; and the placeholders.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.S)
_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.I)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> _Statement:
    """`?` placeholders numbered as `$1, $2, ...`; translated once per distinct statement."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _Statement(_TOKENS.sub(number, sql), bool(_ROWS.search(sql)))


# SQLite's column types as PostgreSQL spells them. An INTEGER is 64-bit in SQLite, and the
# millisecond timestamps do not fit PostgreSQL's 32-bit INTEGER; an INTEGER PRIMARY KEY is
# SQLite's rowid, numbered by the database when the insert leaves it out.
_DDL = (
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b"), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
)
_DDL_SKIP = re.compile(r"'(?:[^']|'')*'|--[^\n]*")


def translate_ddl(script: str) -> str:
    """A migration written for SQLite, with its column types in PostgreSQL's words.

    Only the types change, outside quoted text and comments; everything else the numbered
    files use (ALTER TABLE ... ADD COLUMN, CHECK, UNIQUE, REFERENCES, indexes, COLLATE NOCASE
    with prelude.sql's collation) means the same in both.
    """
    out, last = [], 0
    for skipped in _DDL_SKIP.finditer(script):
        out.append(_types(script[last : skipped.start()]))
        out.append(skipped.group())
        last = skipped.end()
    out.append(_types(script[last:]))
    return "".join(out)


def _types(text: str) -> str:
    for pattern, replacement in _DDL:
        text = pattern.sub(replacement, text)
    return text


class _Cursor:
    """The rows of one statement, and how many rows it changed, as sqlite3's cursor gives them."""

    def __init__(self, rows: Sequence[Row], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest = list(self._rows[self._next :])
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _WorkConnection:
    """A write's connection as its `work` sees it: each statement run to its end on the writer's loop."""

    def __init__(self, conn: asyncpg.Connection, run: Callable[[Awaitable[Any]], Any]) -> None:
        self._conn = conn
        self._run = run

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        result: _Cursor = self._run(self._execute(translate(sql), tuple(parameters)))
        return result

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        rows = [tuple(p) for p in parameters]
        if rows:
            self._run(self._conn.executemany(translate(sql).sql, rows))
        return _Cursor([], -1)

    async def _execute(self, statement: _Statement, params: tuple[Any, ...]) -> _Cursor:
        if statement.returns_rows:
            rows = await self._conn.fetch(statement.sql, *params)
            return _Cursor(rows, len(rows))
        status = await self._conn.execute(statement.sql, *params)
        # "UPDATE 3", "DELETE 0", "INSERT 0 1": the last word is the count.
        count = status.rsplit(" ", 1)[-1]
        return _Cursor([], int(count) if count.isdigit() else -1)


class _ConnectionLost(Exception):
    """The writing connection ended before the transaction committed: nothing of it was stored."""


class _Writer:
    """This process's writing connection, driven by an event loop of its own on the writer's thread.

    Everything here runs on that one thread: a batch is one hop from the app's loop, and each
    of its statements a call into this loop on the same thread, not a hop between threads.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: asyncpg.Connection | None = None

    def open(self) -> None:
        if self._loop is None:
            self._loop = _new_event_loop()
        try:
            self._conn = self._run(
                asyncpg.connect(
                    self._url,
                    timeout=CONNECT_TIMEOUT_S,
                    command_timeout=STATEMENT_TIMEOUT_S,
                    statement_cache_size=STATEMENT_CACHE,
                    server_settings={"application_name": WRITER_NAME},
                )
            )
            self._run(_init_connection(self._conn))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise PostgresError(f"cannot connect to PostgreSQL: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(
                OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError
            ):
                self._run(self._conn.close(timeout=CONNECT_TIMEOUT_S))
        if self._loop is not None:
            self._loop.close()

    def _run(self, awaitable: Awaitable[T]) -> T:
        assert self._loop is not None
        return self._loop.run_until_complete(awaitable)

    def commit(self, works: list[Work]) -> list[_Outcome]:
        """One transaction for the batch, each work in its own savepoint: the outcomes, once committed."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            if self._conn is None or self._conn.is_closed():
                self.open()
            try:
                return self._transaction(works)
            except _ConnectionLost as lost:
                if attempt == WRITE_ATTEMPTS:
                    raise PostgresError(f"lost the connection to PostgreSQL: {lost}") from lost
                log.warning("lost the writing connection to PostgreSQL (%s); writing again", lost)
        raise AssertionError("unreachable")

    def _transaction(self, works: list[Work]) -> list[_Outcome]:
        assert self._conn is not None
        conn = self._conn
        shim = _WorkConnection(conn, self._run)
        outcomes: list[_Outcome] = []
        try:
            self._statement(_BEGIN)
            for index, work in enumerate(works):
                if index:
                    self._statement(_NEXT_WORK)
                outcomes.append(self._work(work, shim))
        except BaseException:
            self._abandon()
            raise
        try:
            self._run(conn.execute("COMMIT"))
        except Exception as exc:
            if conn.is_closed():
                raise PostgresError(
                    f"lost the connection to PostgreSQL while committing ({exc}): these writes"
                    " may or may not have been stored"
                ) from exc
            self._abandon()
            raise _database_error(exc) from exc
        return outcomes

    def _statement(self, sql: str) -> None:
        """One of the transaction's own statements; its failure fails the whole batch."""
        assert self._conn is not None
        try:
            self._run(self._conn.execute(sql))
        except Exception as exc:
            if self._conn.is_closed():
                raise _ConnectionLost(str(exc)) from exc
            raise _database_error(exc) from exc

    def _work(self, work: Work, shim: _WorkConnection) -> _Outcome:
        """Run one work in the savepoint made for it; a failing work undoes itself alone."""
        assert self._conn is not None
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return work(shim), None
            except Exception as exc:
                if self._conn.is_closed():
                    raise _ConnectionLost(str(exc)) from exc
                self._statement(_UNDO_WORK)
                if attempt < WRITE_ATTEMPTS and _run_again(exc):
                    continue
                return None, _database_error(exc)
        raise AssertionError("unreachable")

    def _abandon(self) -> None:
        """Roll the transaction back; a connection that cannot is closed, and opened anew for the next batch."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        try:
            self._run(conn.execute("ROLLBACK"))
        except Exception:  # the connection is in no state to go on
            conn.terminate()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    # uvloop spends a fifth less CPU per statement than asyncio's own loop; not built for Windows.
    if sys.platform == "win32":
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


def _fail(batch: list[tuple[Work, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def _run_again(exc: BaseException) -> bool:
    """Whether a work that failed so succeeds if run again: a deadlock's victim, or a prepared
    statement that a migration by another process made stale (the driver prepares it anew)."""
    if isinstance(exc, asyncpg.InvalidCachedStatementError):
        return True
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate in _RETRY_STATES


def _database_error(exc: BaseException) -> BaseException:
    """A failed statement as the DatabaseError callers expect; an error of the work's own, as it is."""
    if isinstance(exc, asyncpg.PostgresError):
        error: BaseException = _wrapped(exc)
    elif isinstance(exc, TimeoutError):
        error = PostgresError(f"a statement did not finish within {STATEMENT_TIMEOUT_S:g} s")
    elif isinstance(exc, (OSError, asyncpg.InterfaceError)):
        error = PostgresError(str(exc))
    else:
        return exc
    error.__cause__ = exc
    return error


async def _init_connection(conn: asyncpg.Connection) -> None:
    # paydesk stores whole numbers only; sum() of them is NUMERIC in PostgreSQL, and comes back
    # as int, as it does from SQLite.
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=_number, schema="pg_catalog", format="text"
    )


def _number(text: str) -> int | Decimal:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else value


def _touch(conn: Connection) -> None:
    # Takes a transaction id: a commit record is written and flushed, and a read-only server
    # (a standby) refuses it, as it would refuse every write.
    conn.execute("SELECT txid_current()")


async def _driver(awaitable: Any) -> Any:
    """Await a driver call; its errors raised as DatabaseError, as every caller expects."""
    try:
        return await awaitable
    except asyncpg.PostgresError as exc:
        raise _wrapped(exc) from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise PostgresError(str(exc)) from exc


def _wrapped(exc: asyncpg.PostgresError) -> DatabaseError:
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return PostgresIntegrityError(str(exc))
    return PostgresError(str(exc))
