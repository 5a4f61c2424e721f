"""PostgreSQL as the store of several processes: claims, locks and duplicate events across pools."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from server.backup import BackupRefused, back_up
from server.config import ConfigError, load_config
from server.database_file import NoDatabase, migrated_database
from server.db import Connection, Database, DatabaseError, IntegrityError, migration_files
from server.doctor.local import check_database, check_disk
from server.doctor.report import Verdict
from server.mail import outbox
from server.notify.settings import NotifySettings
from server.notify.worker import Notifier
from server.package_data import migrations_folder
from server.postgresql import WRITER_NAME, translate, translate_ddl
from server.shared_limits import SharedRateLimiter
from server.storage import open_database
from server.web.keys import db_key
from tests import lifecycle_events as flows
from tests.conftest import MakeClient, count_rows, free_port, on_postgresql
from tests.pages import submit_order
from tests.seed import fetch_payment, seed_payment
from tests.stripe_signing import event_body, sign
from tests.test_postgresql_processes import card_payment_events
from tests.test_webhooks import WEBHOOK, one_event, post_event, secret_of

MAILS = 200
CONCURRENT = 64


@pytest.fixture
async def two_pools(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two handles on one database, as two paydesk processes have."""
    first = await open_database(database_url)
    second = await open_database(database_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def insert_mail(count: int) -> object:
    def work(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO payments (id, request_key, product_id, product_name, quantity, unit_amount,"
            " amount, currency, customer_name, customer_email, status, created_at, updated_at)"
            " VALUES ('pay_mail', 'k', 'p', 'P', 1, 100, 100, 'eur', 'Ada', 'ada@example.com',"
            " 'succeeded', 1, 1)"
        )
        conn.executemany(
            "INSERT INTO outbox (payment_id, kind, dedupe_key, next_attempt_at, created_at)"
            " VALUES ('pay_mail', 'receipt', ?, 0, 0)",
            [(f"receipt:{n}",) for n in range(count)],
        )

    return work


async def test_two_processes_claiming_the_outbox_take_each_mail_once(
    two_pools: tuple[Database, Database],
) -> None:
    first, second = two_pools
    await first.write(insert_mail(MAILS))  # type: ignore[arg-type]

    async def claim_all(db: Database) -> list[int]:
        taken: list[int] = []
        while batch := await outbox.claim_due(db, 1, 7):
            taken += [row.id for row in batch]
        return taken

    claims = await asyncio.gather(*(claim_all(db) for db in (first, second, first, second)))
    every = [outbox_id for claim in claims for outbox_id in claim]
    assert sorted(every) == sorted(set(every))  # no mail taken twice
    assert len(every) == MAILS


async def test_a_released_claim_is_due_again_and_a_held_one_is_not(
    two_pools: tuple[Database, Database],
) -> None:
    first, second = two_pools
    await first.write(insert_mail(3))  # type: ignore[arg-type]
    taken = await outbox.claim_due(first, 1000, 10)
    assert len(taken) == 3
    assert await outbox.claim_due(second, 2000, 10) == []  # leased to the first process
    await outbox.release(first, [taken[0].id], 1500)
    assert [row.id for row in await outbox.claim_due(second, 2000, 10)] == [taken[0].id]


async def test_the_advisory_lock_is_held_by_one_process_at_a_time(
    two_pools: tuple[Database, Database],
) -> None:
    first, second = two_pools
    async with first.exclusive("confirm-sweep") as ours:
        assert ours
        async with second.exclusive("confirm-sweep") as theirs:
            assert not theirs
        async with second.exclusive("another-job") as other:
            assert other  # a lock of another name is free
    async with second.exclusive("confirm-sweep") as theirs:
        assert theirs  # released when the first left


async def test_concurrent_writes_of_one_row_from_two_pools_lose_no_update(
    two_pools: tuple[Database, Database],
) -> None:
    first, second = two_pools
    await first.write(insert_mail(1))  # type: ignore[arg-type]

    def bump(conn: Connection) -> None:
        row = conn.execute("SELECT attempts FROM outbox WHERE dedupe_key = 'receipt:0'").fetchone()
        conn.execute("UPDATE outbox SET attempts = ? WHERE dedupe_key = 'receipt:0'", (row[0] + 1,))

    await asyncio.gather(*(db.write(bump) for _ in range(20) for db in (first, second)))
    row = await first.fetch_one("SELECT attempts FROM outbox")
    assert row is not None and row[0] == 40  # each read-then-write ran as if alone


async def test_concurrent_writes_from_two_pools_never_lose_a_race(
    two_pools: tuple[Database, Database],
) -> None:
    first, second = two_pools
    writes = 2 * CONCURRENT
    await first.write(insert_mail(writes))  # type: ignore[arg-type]
    runs = Counter[int]()

    def bump(number: int) -> Callable[[Connection], None]:
        def work(conn: Connection) -> None:
            runs[number] += 1
            # Reads the whole (small) table, as a fresh shop's writes do, then writes one row.
            total = conn.execute("SELECT sum(attempts) FROM outbox").fetchone()[0]
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE dedupe_key = ?",
                (str(total), f"receipt:{number}"),
            )

        return work

    pools = (first, second)
    await asyncio.gather(*(pools[n % 2].write(bump(n)) for n in range(writes)))
    assert runs == dict.fromkeys(range(writes), 1)  # each ran once: none lost a race and ran again
    seen = await second.fetch_all("SELECT last_error FROM outbox")
    # One at a time, whichever process: each write saw every earlier one, so each saw a different
    # total, from none to all the others.
    assert sorted(int(row[0]) for row in seen) == list(range(writes))


async def test_a_lost_writing_connection_is_replaced_and_the_write_runs_once(
    two_pools: tuple[Database, Database], database_url: str
) -> None:
    first, _ = two_pools
    await first.write(insert_mail(1))  # type: ignore[arg-type]
    cut = await asyncpg.connect(database_url)
    try:
        ended = await cut.fetchval(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            WRITER_NAME,
        )
    finally:
        await cut.close()
    assert ended == 2  # each pool's writer, as a restart of PostgreSQL would
    runs: list[int] = []

    def bump(conn: Connection) -> None:
        runs.append(1)
        conn.execute("UPDATE outbox SET attempts = attempts + 1")

    await first.write(bump)
    row = await first.fetch_one("SELECT attempts FROM outbox")
    assert row is not None and row[0] == 1
    assert runs == [1]  # the loss showed at the transaction's start, before the work ran


async def test_a_write_after_another_process_changed_the_schema_goes_through(
    two_pools: tuple[Database, Database], database_url: str
) -> None:
    first, _ = two_pools

    def create(conn: Connection) -> None:
        conn.execute("CREATE TABLE later (note TEXT)")

    def copy(conn: Connection) -> int:
        rows = conn.execute("SELECT * FROM later").fetchall()  # prepared, and kept, by the writer
        conn.execute("INSERT INTO later (note) VALUES (?)", (str(len(rows)),))
        return len(rows)

    await first.write(create)
    assert await first.write(copy) == 0
    other = await asyncpg.connect(database_url)  # a new release migrating, in another process
    try:
        await other.execute("ALTER TABLE later ADD COLUMN extra TEXT")
    finally:
        await other.close()
    assert await first.write(copy) == 1  # the stale statement is prepared again, not a failure


async def test_a_broken_constraint_is_an_integrity_error_and_changes_nothing(
    two_pools: tuple[Database, Database],
) -> None:
    first, _ = two_pools
    await first.write(insert_mail(1))  # type: ignore[arg-type]

    def twice(conn: Connection) -> None:
        conn.execute("UPDATE outbox SET attempts = 5")
        conn.execute(
            "INSERT INTO outbox (payment_id, kind, dedupe_key, next_attempt_at, created_at)"
            " VALUES ('pay_mail', 'receipt', 'receipt:0', 0, 0)"
        )

    with pytest.raises(IntegrityError):
        await first.write(twice)
    row = await first.fetch_one("SELECT attempts FROM outbox")
    assert row is not None and row[0] == 0


async def test_copies_of_an_event_sent_to_two_processes_apply_once(
    make_client: MakeClient,
) -> None:
    a = await make_client()
    b = await make_client(PORT=str(free_port()))
    await seed_payment(a, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    event = one_event()
    results = await asyncio.gather(*(post_event(c, event) for _ in range(6) for c in (a, b)))
    assert all(status == 200 for status, _ in results)
    assert sorted(body["outcome"] for _, body in results) == ["applied"] + ["duplicate"] * 11
    assert await count_rows(a, "stripe_events") == 1
    assert await count_rows(b, "outbox") == 2
    assert (await fetch_payment(b, flows.PAYMENT_ID)).version == 2


async def deliver(client: TestClient, body: bytes) -> tuple[int, dict[str, Any]]:
    """Post a signed event body; the status and the answer (or its text, when not JSON)."""
    headers = {
        "Stripe-Signature": sign(body, secret_of(client)),
        "Content-Type": "application/json",
    }
    response = await client.post(WEBHOOK, data=body, headers=headers)
    if response.content_type != "application/json":
        return response.status, {"text": await response.text()}
    return response.status, await response.json()


@pytest.fixture
async def two_apps(make_client: MakeClient) -> tuple[TestClient, TestClient]:
    """Two paydesk apps, each with its own pool and writer, on one database."""
    return await make_client(), await make_client(PORT=str(free_port()))


async def test_concurrent_webhooks_for_distinct_payments_on_two_processes_all_apply(
    two_apps: tuple[TestClient, TestClient],
) -> None:
    a, b = two_apps
    ids = [f"pay_concurrent{n:04d}" for n in range(CONCURRENT)]
    for n, payment_id in enumerate(ids):
        await seed_payment(a, payment_id, session_id=f"cs_test_{n}", intent_id=f"pi_{n}")
    bodies = [card_payment_events(payment_id, n)[-1] for n, payment_id in enumerate(ids)]
    results = await asyncio.gather(*(deliver((a, b)[n % 2], body) for n, body in enumerate(bodies)))
    assert [status for status, _ in results] == [200] * CONCURRENT, results
    assert Counter(answer["outcome"] for _, answer in results) == {"applied": CONCURRENT}
    assert await count_rows(a, "stripe_events") == CONCURRENT
    for payment_id in ids:
        payment = await fetch_payment(b, payment_id)
        assert (payment.status, payment.version) == ("succeeded", 2)


async def test_concurrent_webhooks_for_one_payment_on_two_processes_apply_each_event_once(
    two_apps: tuple[TestClient, TestClient],
) -> None:
    a, b = two_apps
    await seed_payment(a, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    events = flows.card_success(flows.Stripe("hand-built"))  # four events, each sent 16 times
    copies = CONCURRENT // len(events)
    sends = [(event, (a, b)[n % 2]) for event in events for n in range(copies)]
    results = await asyncio.gather(*(deliver(c, event_body(e)) for e, c in sends))
    assert [status for status, _ in results] == [200] * CONCURRENT, results
    effects = Counter(
        event["id"] for (event, _), (_, answer) in zip(sends, results, strict=True)
        if answer["outcome"] != "duplicate"
    )  # fmt: skip
    assert effects == {event["id"]: 1 for event in events}  # each event once, whichever process
    assert await count_rows(a, "stripe_events") == len(events)
    payment = await fetch_payment(b, flows.PAYMENT_ID)
    assert payment.status == "succeeded"
    mail = await b.server.app[db_key].fetch_all(
        "SELECT kind FROM outbox WHERE payment_id = ?", (flows.PAYMENT_ID,)
    )
    kinds = Counter(row["kind"] for row in mail)
    assert kinds["receipt"] == 1 and set(kinds.values()) == {1}, kinds


async def test_a_payment_change_is_announced_at_commit(
    database_url: str, make_client: MakeClient
) -> None:
    client = await make_client()
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("paydesk_payments", lambda *args: heard.put_nowait(args[3]))
        await seed_payment(client, "pay_announced")
        async with asyncio.timeout(5):
            assert await heard.get() == "pay_announced:1"
    finally:
        await listener.close()


def test_placeholders_are_numbered_outside_quoted_text() -> None:
    statement = translate("SELECT '?', \"a?\" FROM t WHERE a = ? -- why?\n AND b IN (?, ?)")
    assert statement.sql == "SELECT '?', \"a?\" FROM t WHERE a = $1 -- why?\n AND b IN ($2, $3)"
    assert statement.returns_rows
    assert not translate("UPDATE t SET a = ?").returns_rows
    assert translate("INSERT INTO t VALUES (?) RETURNING id").returns_rows


def test_sqlite_column_types_become_postgresql_ones() -> None:
    ddl = translate_ddl(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, -- an INTEGER\n"
        " note TEXT DEFAULT 'INTEGER');\nALTER TABLE t ADD COLUMN fee INTEGER;"
    )
    assert ddl == (
        "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, -- an INTEGER\n"
        " note TEXT DEFAULT 'INTEGER');\nALTER TABLE t ADD COLUMN fee BIGINT;"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://paydesk@db.internal/paydesk",
        "postgres://paydesk:secret@127.0.0.1:5433/paydesk",
        "postgresql:///paydesk?host=/run/postgresql",
    ],
)
def test_a_postgresql_url_selects_postgresql(url: str) -> None:
    config = load_config({"DATABASE_URL": url}, env_file=None)
    assert config.postgresql_url == url
    assert config.database == url
    assert "secret" not in config.database_label and "secret" not in repr(config)


@pytest.mark.parametrize(
    "url", ["postgresql://db.internal", "postgresql://db.internal/", "postgresql://:5432/x"]
)
def test_a_postgresql_url_without_host_or_database_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL: expected postgresql://"):
        load_config({"DATABASE_URL": url}, env_file=None)


async def test_backup_on_postgresql_points_to_pg_dump(database_url: str, tmp_path: Path) -> None:
    config = load_config({"DATABASE_URL": database_url}, env_file=None)
    with pytest.raises(BackupRefused, match="pg_dump"):
        await back_up(config, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db.partial").exists()


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A PostgreSQL database with nothing in it, beside the test's migrated one."""
    name = urlsplit(database_url).path.lstrip("/") + "_empty"
    on_postgresql(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(database_url)._replace(path="/" + name).geturl()
    finally:
        on_postgresql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_every_migration_applies_once_on_postgresql(empty_database: str) -> None:
    db = await open_database(empty_database)
    try:
        applied = await db.migrate(migrations_folder())
        assert applied == [path.name for _, path in migration_files(migrations_folder())]
        assert await db.migrate(migrations_folder()) == []  # and the re-runnable parts again
        rows = await db.fetch_all("SELECT name FROM schema_migrations ORDER BY version")
        assert [row["name"] for row in rows] == applied
        types = await db.fetch_all(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'payments' AND column_name IN ('created_at', 'amount', 'id')"
        )
        assert {row[0]: row[1] for row in types} == {
            "id": "text",
            "amount": "bigint",
            "created_at": "bigint",
        }
        trigger = await db.fetch_one(
            "SELECT 1 FROM pg_trigger WHERE tgname = 'payments_announce' AND NOT tgisinternal"
        )
        assert trigger is not None
    finally:
        await db.close()


async def test_a_failing_migration_on_postgresql_leaves_nothing_behind(
    empty_database: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    (folder / "postgresql").mkdir(parents=True)
    (folder / "postgresql" / "prelude.sql").write_text("SELECT 1;")
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_broken.sql").write_text(
        "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    db = await open_database(empty_database)
    try:
        with pytest.raises(DatabaseError, match='relation "nowhere" does not exist'):
            await db.migrate(folder)
        tables = await db.fetch_all(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        assert [row[0] for row in tables] == ["a", "schema_migrations"]
        versions = await db.fetch_all("SELECT version FROM schema_migrations")
        assert [row[0] for row in versions] == [1]
    finally:
        await db.close()


async def test_processes_starting_together_migrate_once(empty_database: str) -> None:
    handles = [await open_database(empty_database) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(db.migrate(migrations_folder()) for db in handles))
        every = sorted(name for names in applied for name in names)
        assert every == [path.name for _, path in migration_files(migrations_folder())]
    finally:
        for db in handles:
            await db.close()


async def test_health_on_postgresql_says_the_database_answers_and_leaves_its_disk_to_it(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    response = await client.get("/healthz")
    body = await response.json()
    assert (response.status, body["status"], body["database"]) == (200, "ok", "ok")
    assert "disk" not in body  # PostgreSQL's disk is not this host's to measure


async def test_doctor_on_postgresql_checks_the_database_and_leaves_its_disk_to_it(
    database_url: str,
) -> None:
    config = load_config({"DATABASE_URL": database_url}, env_file=None)
    [database] = await check_database(config, "paydesk")
    [disk] = check_disk(config)
    assert (database.verdict, disk.verdict) == (Verdict.OK, Verdict.OK)
    assert "takes writes and is migrated" in database.detail
    assert "MB" not in disk.detail  # no figure of this host's disk stands for PostgreSQL's


async def test_the_checkout_limit_is_shared_by_all_processes(make_client: MakeClient) -> None:
    a = await make_client(CHECKOUT_RATE_LIMIT="2")
    b = await make_client(CHECKOUT_RATE_LIMIT="2", PORT=str(free_port()))
    assert (await submit_order(a))[0] == 303
    assert (await submit_order(b))[0] == 303
    assert (await submit_order(a))[0] == 429  # the client's two were used, one in each process
    assert (await submit_order(b))[0] == 429
    assert await count_rows(a) == 2


async def test_a_shared_bucket_refuses_past_its_size_and_says_how_long_to_wait(
    two_pools: tuple[Database, Database],
) -> None:
    first, second = two_pools
    one, other = SharedRateLimiter(first, "checkout", 2), SharedRateLimiter(second, "checkout", 2)
    assert (await one.acquire("10.0.0.1"), await other.acquire("10.0.0.1")) == (0, 0)
    assert await one.acquire("10.0.0.1") == pytest.approx(30, abs=1)
    assert await other.acquire("10.0.0.1") == pytest.approx(30, abs=1)  # a refusal takes nothing
    assert await other.acquire("10.0.0.2") == 0  # another client's bucket
    assert await SharedRateLimiter(first, "login", 2).acquire("10.0.0.1") == 0  # another limit


async def test_a_command_pointed_at_a_missing_postgresql_database_says_so(
    database_url: str,
) -> None:
    missing = urlsplit(database_url)._replace(
        netloc="postgres:hunter2@" + urlsplit(database_url).netloc.rpartition("@")[2],
        path="/paydesk_no_such_database",
    )
    with pytest.raises(
        NoDatabase, match='database "paydesk_no_such_database" does not exist'
    ) as caught:
        async with migrated_database(missing.geturl()):
            pass
    assert "hunter2" not in str(caught.value)


async def test_the_notification_sender_reports_a_database_error_in_one_line(
    empty_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = await open_database(empty_database)  # no tables: every write of the sender fails
    try:
        async with aiohttp.ClientSession() as session:
            notifier = Notifier(db, NotifySettings(), lambda queued: (b"", ()), session)
            notifier.start()
            try:
                async with asyncio.timeout(10):
                    while not any(
                        "notifications: database error" in r.message for r in caplog.records
                    ):
                        await asyncio.sleep(0.02)
            finally:
                await notifier.stop()
    finally:
        await db.close()
    [record] = [r for r in caplog.records if "notifications: database error" in r.message]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None  # no traceback
    assert 'relation "notifications" does not exist' in record.message
    assert "\n" not in record.message
