"""The real app on a free loopback port, with a temporary database and the in-process sandbox.

The database is a SQLite file in the test's folder. The storage-facing modules (STORAGE_FACING)
run each test that uses one twice: on SQLite, and on PostgreSQL (PAYDESK_TEST_POSTGRESQL, default
postgres@127.0.0.1:5432), in a database copied once per run from a migrated template and emptied
before each test. Without a PostgreSQL those runs skip, and the summary says so;
PAYDESK_REQUIRE_POSTGRESQL=1 (set by .ci/run when one answers) makes them fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_config
from server.logs import CHATTY_LOGGERS, RepeatFilter
from server.package_data import migrations_folder
from server.postgresql import PostgresDatabase
from server.web.keys import db_key


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs the command line in-process sets up the process's logging: a handler
    whose filter holds back repeats, a level, quieter loggers. The next test starts without them
    (pytest adds and removes its own capturing handlers around each phase)."""
    root = logging.getLogger()
    level = root.level
    levels = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    yield
    root.handlers[:] = [h for h in root.handlers if not _installed_by_paydesk(h)]
    root.setLevel(level)
    for name, was in levels.items():
        logging.getLogger(name).setLevel(was)


def _installed_by_paydesk(handler: logging.Handler) -> bool:
    return any(isinstance(f, RepeatFilter) for f in handler.filters)


PROJECT_ROOT = Path(__file__).resolve().parents[1]
MakeClient = Callable[..., Awaitable[TestClient]]

# Modules whose tests run on both databases: what they test is stored, claimed or read back.
# Chosen to keep the PostgreSQL runs within about 90 s; tests/test_postgresql_*.py run there only.
STORAGE_FACING = {
    "test_db",
    "test_webhooks",
    "test_payment_flow",
    "test_mail_delivery",
    "test_console_payments",
    "test_console_refunds",
    "test_reconcile",
    "test_customers",
}
POSTGRESQL = os.environ.get(
    "PAYDESK_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRESQL = os.environ.get("PAYDESK_REQUIRE_POSTGRESQL") == "1"
_postgresql_runs: dict[str, int] = {"ran": 0, "skipped": 0}
_reachable: list[str | None] = []  # filled once: None when PostgreSQL answers, else why not


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until_ok(
    url: str, headers: dict[str, str] | None = None, timeout: float = 30
) -> None:
    """Until a process we started answers `url` with 200 (it refuses connections while starting)."""
    async with ClientSession(headers=headers) as session, asyncio.timeout(timeout):
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    module = metafunc.module.__name__.rpartition(".")[2]
    backends = ["sqlite", "postgresql"] if module in STORAGE_FACING else ["sqlite"]
    if module.startswith("test_postgresql"):
        backends = ["postgresql"]
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on: 'sqlite', or 'postgresql' (skipped when none answers)."""
    name: str = getattr(request, "param", "sqlite")
    if name == "postgresql":
        problem = postgresql_problem()
        if problem is not None:
            _postgresql_runs["skipped"] += 1
            if REQUIRE_POSTGRESQL:
                pytest.fail(f"PAYDESK_REQUIRE_POSTGRESQL=1 but {problem}")
            pytest.skip(problem)
        _postgresql_runs["ran"] += 1
    return name


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> str:
    """DATABASE_URL for this test: a SQLite file in its folder, or an emptied PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'paydesk.db'}"
    return _with_database(POSTGRESQL, emptied_test_database())


_test_database: dict[
    str, set[str]
] = {}  # this run's PostgreSQL database: the tables it starts with


def emptied_test_database() -> str:
    """This run's PostgreSQL database, copied from the template once and emptied for each test.

    As good as a fresh copy (the same schema, no rows, numbering from 1, nothing connected) in a
    few milliseconds, where creating and dropping a database takes most of a second.
    """
    if not _test_database:
        name = f"paydesk_test_{os.getpid()}"
        on_postgresql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        on_postgresql(f'CREATE DATABASE "{name}" TEMPLATE "{postgresql_template()}"')
        _test_database[name] = _run(_tables(name))
    name, tables = next(iter(_test_database.items()))
    _run(_empty(name, tables))
    return name


async def _tables(name: str) -> set[str]:
    conn = await asyncpg.connect(_with_database(POSTGRESQL, name), timeout=5)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}
    finally:
        await conn.close()


async def _empty(name: str, tables: set[str]) -> None:
    conn = await asyncpg.connect(_with_database(POSTGRESQL, name), timeout=5)
    try:
        # The last test's app has stopped; whatever it left connected goes now.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        now = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for extra in {row[0] for row in now} - tables:  # made by a test
            await conn.execute(f'DROP TABLE "{extra}" CASCADE')
        emptied = ", ".join(f'"{t}"' for t in sorted(tables - {"schema_migrations"}))
        await conn.execute(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def pytest_sessionfinish() -> None:
    for name in _test_database:
        on_postgresql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgresql_problem() -> str | None:
    """None when the tests' PostgreSQL answers, else why it does not (asked once per run)."""
    if not _reachable:
        try:
            on_postgresql("SELECT 1")
            _reachable.append(None)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            where = urlsplit(POSTGRESQL).netloc.rpartition("@")[2]
            _reachable.append(f"no PostgreSQL answers at {where}: {exc}")
    return _reachable[0]


_templates: list[str] = []


def postgresql_template() -> str:
    """A database with every migration applied, made once per set of migration files and reused."""
    if not _templates:
        folder = migrations_folder()
        digest = hashlib.sha256()
        for path in sorted(folder.rglob("*.sql")):
            digest.update(path.name.encode() + path.read_bytes())
        name = f"paydesk_tpl_{digest.hexdigest()[:12]}"
        _run(_make_template(name, folder))
        _templates.append(name)
    return _templates[0]


async def _make_template(name: str, folder: Path) -> None:
    conn = await asyncpg.connect(POSTGRESQL, timeout=5)
    try:
        # Other test runs may make the same template at the same moment: one at a time.
        await conn.execute("SELECT pg_advisory_lock(7172737)")
        try:
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return
            building = name + "_new"
            await conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{building}"')
            db = await PostgresDatabase.connect(_with_database(POSTGRESQL, building), pool_size=1)
            try:
                await db.migrate(folder)
            finally:
                await db.close()
            await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
            # Templates of migrations since changed are of no more use.
            stale = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'paydesk\\_tpl\\_%'"
                " AND datname NOT IN ($1, $2)",
                name,
                building,
            )
            for row in stale:
                with contextlib.suppress(asyncpg.PostgresError):  # in use by another run
                    await conn.execute(f'DROP DATABASE "{row[0]}"')
        finally:
            await conn.execute("SELECT pg_advisory_unlock(7172737)")
    finally:
        await conn.close()


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + name).geturl()


def on_postgresql(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(POSTGRESQL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run(run())


def _run(coro: Awaitable[Any]) -> Any:
    # On a thread of its own: a test's event loop may be current on this one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coro).result(timeout=60)  # type: ignore[arg-type]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    ran, skipped = _postgresql_runs["ran"], _postgresql_runs["skipped"]
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL: {skipped} test(s) skipped, {_reachable[0]}; "
            "start one or set PAYDESK_TEST_POSTGRESQL to run them",
            yellow=True,
        )
    elif ran:
        terminalreporter.write_line(f"PostgreSQL: {ran} test(s) ran on PostgreSQL")


@pytest.fixture
def app_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """Settings for one test: its own port and database; no rate limit unless a test asks for one."""
    return {
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "DATABASE_URL": database_url,
        "CHECKOUT_RATE_LIMIT": "10000",
        "MAIL_DIR": str(tmp_path / "mail"),
    }


@pytest.fixture
def make_client(app_env: dict[str, str], aiohttp_server, aiohttp_client) -> MakeClient:  # type: ignore[no-untyped-def]
    """Start paydesk with `app_env` plus overrides; the server listens on the configured port.

    `app_env` first: its database is made before the app starts and removed after it stopped.
    """

    async def make(**overrides: str) -> TestClient:
        config = load_config({**app_env, **overrides}, env_file=None)
        app = await create_app(config)
        server = await aiohttp_server(app, host=config.host, port=config.port)
        return await aiohttp_client(server)

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    return await make_client()


async def count_rows(client: TestClient, table: str = "payments") -> int:
    row = await client.server.app[db_key].fetch_one(f"SELECT count(*) FROM {table}")  # noqa: S608 - test-only table names
    assert row is not None
    return int(row[0])
