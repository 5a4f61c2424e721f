"""A disk that fills: writes fail with 5xx and nothing else, health says so, and paydesk recovers alone."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.db import Database, DatabaseUnwritable
from server.web.keys import db_key
from tests import lifecycle_events as flows
from tests.conftest import MakeClient, count_rows
from tests.seed import fetch_payment, seed_payment
from tests.test_webhooks import post_event

DISK_MB = 8


class SmallDisk:
    """A tmpfs of a few MB: `fill` takes every free byte with a ballast file, `free` gives it back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ballast = root / "ballast"

    def fill(self) -> None:
        chunk = b"\0" * 4096
        with self._ballast.open("ab", buffering=0) as ballast:
            while True:
                try:
                    ballast.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    return

    def free(self) -> None:
        self._ballast.unlink()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / "disk"
    root.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


async def health(client: TestClient) -> tuple[int, dict[str, object]]:
    response = await client.get("/healthz")
    return response.status, await response.json()


async def test_a_full_disk_refuses_webhooks_then_recovers_and_loses_nothing(
    small_disk: SmallDisk, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(
        DATABASE_URL=f"sqlite:///{small_disk.root / 'paydesk.db'}", DISK_WARNING_MB="1"
    )
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    assert (await health(client))[1]["disk"] == "ok"
    event = flows.card_success(flows.Stripe("disk"))[-1]  # checkout.session.completed, paid

    # The WAL's file would take a few writes in the room it already has: start it from nothing,
    # so the next write needs new space, as it does once that room is used.
    with contextlib.closing(sqlite3.connect(small_disk.root / "paydesk.db")) as other:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    small_disk.fill()
    for _ in range(5):  # Stripe retrying: every delivery fails, none is acknowledged
        status, _ = await post_event(client, event)
        assert status == 503  # try again: nothing is wrong with the event
    status, body = await health(client)
    assert status == 503
    assert body["database"] == "unwritable"
    assert body["disk"] == "low"
    assert "disk is full" in str(body["problem"])
    assert (await fetch_payment(client, flows.PAYMENT_ID)).status == "pending"

    small_disk.free()
    async with asyncio.timeout(15):  # one attempt a second to write again
        while (await health(client))[0] != 200:
            await asyncio.sleep(0.1)
    # The WAL was truncated before writes were let in again, so the freed space is the disk's.
    assert client.server.app[db_key].wal_bytes() < 64 * 1024
    status, body = await post_event(client, event)  # Stripe's next retry
    assert (status, body["outcome"]) == (200, "applied")
    assert (await fetch_payment(client, flows.PAYMENT_ID)).status == "succeeded"
    assert await count_rows(client, "stripe_events") == 1

    # One line when writes started failing and one when they worked again, not one per request.
    db_lines = [r.getMessage() for r in caplog.records if r.name == "server.db"]
    assert len([line for line in db_lines if "unwritable" in line]) == 1, db_lines
    assert len([line for line in db_lines if "writable again" in line]) == 1, db_lines
    assert not [r for r in caplog.records if r.name == "asyncio"]
    assert not [r.getMessage() for r in caplog.records if r.exc_info], "a traceback per request"


async def test_refused_writes_do_not_grow_the_wal_into_freed_space(
    small_disk: SmallDisk,
) -> None:
    db = await Database.open(small_disk.root / "w.db")
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE t (b BLOB)"))
        for _ in range(40):  # about 1.6 MB through the WAL, not yet checkpointed away
            await db.write(lambda conn: conn.execute("INSERT INTO t VALUES (randomblob(40000))"))
        small_disk.fill()
        outcomes = await asyncio.gather(
            *(
                db.write(lambda conn: conn.execute("INSERT INTO t VALUES (randomblob(40000))"))
                for _ in range(20)
            ),
            return_exceptions=True,
        )
        assert all(isinstance(o, DatabaseUnwritable) for o in outcomes), outcomes
        check = await db.check_writes()
        assert not check.writable and "disk is full" in check.problem

        small_disk.free()
        async with asyncio.timeout(15):
            while True:
                try:
                    await db.write(lambda conn: conn.execute("INSERT INTO t VALUES (x'00')"))
                    break
                except DatabaseUnwritable:
                    await asyncio.sleep(0.1)
        assert db.wal_bytes() < 64 * 1024  # truncated first: the room is the disk's again
        row = await db.fetch_one("SELECT count(*) FROM t")
        assert row is not None and row[0] == 41  # the 40 acknowledged and the one after; no other
        assert (await db.check_writes()).writable
    finally:
        await db.close()


async def test_health_warns_when_free_space_is_below_the_threshold(
    make_client: MakeClient,
) -> None:
    client = await make_client(DISK_WARNING_MB="10000000")  # more than any test machine has free
    status, body = await health(client)
    assert status == 200  # writes still commit: a warning, not an outage
    assert body["database"] == "ok"
    assert body["disk"] == "low"
    assert isinstance(body["disk_free_mb"], int)


@pytest.fixture(autouse=True)
def _db_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="server.db")
