"""Writes: concurrent ones all commit, a failing one undoes only itself, none is cut short (both backends)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from server.db import Database
from server.storage import open_database


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> Database:
    """On each backend: the SQLite file w.db, or a fresh PostgreSQL database."""
    if database_url.startswith("sqlite"):
        database = await Database.open(tmp_path / "w.db")
    else:
        database = await open_database(database_url)
    await database.write(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    yield database  # type: ignore[misc]
    await database.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    """SQLite's writer alone: group commit, checkpoints."""
    database = await Database.open(tmp_path / "w.db")
    await database.write(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    yield database  # type: ignore[misc]
    await database.close()


def insert(key: str):  # type: ignore[no-untyped-def]
    def work(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t VALUES (?)", (key,))
        return key

    return work


async def keys(db: Database) -> list[str]:
    return [row[0] for row in await db.fetch_all("SELECT k FROM t ORDER BY k")]


async def test_concurrent_writes_all_commit_and_return_their_results(db: Database) -> None:
    results = await asyncio.gather(*(db.write(insert(f"k{i:03d}")) for i in range(300)))
    assert results == [f"k{i:03d}" for i in range(300)]
    assert len(await keys(db)) == 300


async def test_a_failing_write_undoes_only_itself(db: Database) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('half')")
        conn.execute("INSERT INTO t VALUES ('a')")  # duplicate key: fails after one insert

    await db.write(insert("a"))  # committed first: on PostgreSQL writes run side by side
    outcomes = await asyncio.gather(
        db.write(insert("c")),
        db.write(half_then_fail),
        db.write(insert("b")),
        return_exceptions=True,
    )
    assert outcomes[0] == "c" and outcomes[2] == "b"
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert await keys(db) == ["a", "b", "c"]  # no 'half'


async def test_a_result_is_returned_only_after_commit(db: Database) -> None:
    await db.write(insert("x"))
    # The reader is another connection: it sees only committed data.
    assert await keys(db) == ["x"]


async def test_a_cancelled_caller_still_commits(db: Database) -> None:
    started = threading.Event()

    def slow(conn: sqlite3.Connection) -> None:
        started.set()
        time.sleep(0.05)
        conn.execute("INSERT INTO t VALUES ('slow')")

    caller = asyncio.create_task(db.write(slow))
    assert await asyncio.to_thread(started.wait, 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await db.write(insert("after"))
    # SQLite commits in order; PostgreSQL runs the two side by side, the slow one ending later.
    async with asyncio.timeout(5):
        while await keys(db) != ["after", "slow"]:
            await asyncio.sleep(0.01)


async def test_a_read_after_a_write_sees_it_while_others_are_reading(db: Database) -> None:
    await db.write(
        lambda conn: conn.executemany(
            "INSERT INTO t VALUES (?)", [(f"seed{i}",) for i in range(50)]
        )
    )
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            await db.fetch_one(
                "SELECT k FROM t"
            )  # many rows: a cursor left open would hold a snapshot

    readers = [asyncio.create_task(keep_reading()) for _ in range(4)]
    try:
        for i in range(200):
            await db.write(insert(f"new{i:03d}"))
            assert (
                await db.fetch_one("SELECT k FROM t WHERE k = ?", (f"new{i:03d}",)) is not None
            ), i
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_a_slow_write_leaves_the_event_loop_free(db: Database) -> None:
    """A write runs on the writer's thread: pages and pushes go on while it holds the disk."""
    writing = threading.Event()
    release = threading.Event()

    def slow(conn: sqlite3.Connection) -> str:
        writing.set()
        release.wait(5)
        conn.execute("INSERT INTO t VALUES ('slow')")
        return threading.current_thread().name

    caller = asyncio.create_task(db.write(slow))
    assert await asyncio.to_thread(writing.wait, 5)
    # While the write holds the writer, the loop turns and reads are answered.
    before = await asyncio.wait_for(db.fetch_one("SELECT count(*) AS n FROM t"), 2)
    assert before is not None
    assert not caller.done()
    release.set()
    assert (await asyncio.wait_for(caller, 5)).startswith("paydesk-db-writer")
    assert await keys(db) == ["slow"]


async def test_writes_queued_during_a_commit_share_the_next_one(sqlite_db: Database) -> None:
    """Group commit: callers that arrive while a batch is on disk go together in the next."""
    db = sqlite_db
    release = threading.Event()
    statements: list[str] = []
    await db.write(lambda conn: conn.set_trace_callback(statements.append))

    def hold(conn: sqlite3.Connection) -> None:
        release.wait(5)

    first = asyncio.create_task(db.write(hold))
    await asyncio.sleep(0.01)
    waiting = [asyncio.create_task(db.write(insert(f"q{i}"))) for i in range(10)]
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.wait_for(asyncio.gather(*waiting), 5) == [f"q{i}" for i in range(10)]
    await first
    await db.write(lambda conn: conn.set_trace_callback(None))
    # The write that set the trace, the held one, then one commit for all ten waiting (not ten).
    assert statements.count("COMMIT") == 3
    assert len(await keys(db)) == 10


async def test_committed_writes_reach_the_database_file(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """The WAL is copied into the file by checkpoints on their own connection (no commit does it)."""
    db = sqlite_db
    for i in range(20):
        await db.write(insert(f"c{i:02d}"))

    def in_file_alone() -> int:
        # immutable=1: SQLite reads the database file and ignores the WAL entirely.
        uri = f"file:{tmp_path / 'w.db'}?mode=ro&immutable=1"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])

    async with asyncio.timeout(10):
        while await asyncio.to_thread(in_file_alone) < 20:
            await db.write(insert(f"later{time.monotonic_ns()}"))  # a commit starts the next one
            await asyncio.sleep(0.2)


async def test_sustained_writes_keep_the_wal_under_its_limit(tmp_path: Path) -> None:
    """Past the limit the writer truncates the WAL between batches: it cannot grow with the load."""
    limit = 256 * 1024
    database = await Database.open(tmp_path / "wal.db", wal_limit_bytes=limit)
    wal = tmp_path / "wal.db-wal"
    try:
        await database.write(lambda conn: conn.execute("CREATE TABLE blob (b BLOB)"))
        largest = 0
        for _ in range(100):  # 100 × 20 writes of 2 KB: about 4 MB through the WAL
            await asyncio.gather(
                *(
                    database.write(
                        lambda conn: conn.execute("INSERT INTO blob VALUES (randomblob(2048))")
                    )
                    for _ in range(20)
                )
            )
            largest = max(largest, wal.stat().st_size)
        # One batch (about 50 KB here) may land on top of the limit before the truncation.
        assert largest < limit + 200 * 1024, largest
        row = await database.fetch_one("SELECT count(*) FROM blob")
        assert row is not None and row[0] == 2000
    finally:
        await database.close()
