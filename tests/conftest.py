"""The real app on a free loopback port, with a temporary SQLite file and the in-process sandbox."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_config
from server.web.keys import db_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MakeClient = Callable[..., Awaitable[TestClient]]


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


@pytest.fixture
def app_env(tmp_path: Path) -> dict[str, str]:
    """Settings for one test: its own port and database; no rate limit unless a test asks for one."""
    return {
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'paydesk.db'}",
        "CHECKOUT_RATE_LIMIT": "10000",
        "MAIL_DIR": str(tmp_path / "mail"),
    }


@pytest.fixture
def make_client(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> MakeClient:  # type: ignore[no-untyped-def]
    """Start paydesk with `app_env` plus overrides; the server listens on the configured port."""

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
