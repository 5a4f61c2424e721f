"""What an open status socket holds on to for as long as it stays open: as little as we can.

Thousands of status pages may sit open at once, each on a socket that says nothing for minutes, so
every object one keeps is multiplied by all of them (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

import server
from server.payments import Payment
from tests.live import next_snapshot, open_live
from tests.seed import seed_payment

PAYMENT_ID = "pay_memory"
PAGE_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Cross-Origin-Opener-Policy",
    "Permissions-Policy",
)
SERVER_PACKAGE = str(Path(server.__file__).parent)


async def upgrade_answer(client: TestClient, path: str) -> tuple[str, dict[str, str]]:
    """The status line and headers a browser's WebSocket handshake on `path` is answered with."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    status, *lines = head.decode().strip().split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines)


async def test_the_socket_upgrade_carries_no_page_headers_and_the_page_does(
    client: TestClient,
) -> None:
    await seed_payment(client, PAYMENT_ID)
    page = await client.get(f"/payments/{PAYMENT_ID}")
    assert page.status == 200
    assert all(name in page.headers for name in PAGE_HEADERS)
    status, headers = await upgrade_answer(client, f"/payments/{PAYMENT_ID}/live")
    assert status.startswith("HTTP/1.1 101")
    assert [name for name in PAGE_HEADERS if name in headers] == []


async def test_a_refused_socket_upgrade_is_answered_with_page_headers(
    client: TestClient,
) -> None:
    status, headers = await upgrade_answer(client, "/payments/pay_nope/live")
    assert status.startswith("HTTP/1.1 404")
    assert all(name in headers for name in PAGE_HEADERS)


async def test_an_open_socket_keeps_no_copy_of_its_payment(client: TestClient) -> None:
    await seed_payment(client, PAYMENT_ID)
    ws = await open_live(client, PAYMENT_ID)
    assert (await next_snapshot(ws))["payment"]["id"] == PAYMENT_ID
    gc.collect()
    kept = [o for o in gc.get_objects() if isinstance(o, Payment) and o.id == PAYMENT_ID]
    assert kept == []
    await ws.close()


def finished_send_tasks() -> list[asyncio.Task[Any]]:
    gc.collect()
    return [
        o
        for o in gc.get_objects()
        if isinstance(o, asyncio.Task)
        and o.done()
        and getattr(o.get_coro(), "__qualname__", "") == "BoundedSender._send_queued"
    ]


async def test_an_idle_socket_lets_go_of_the_task_that_sent_its_snapshot(
    client: TestClient,
) -> None:
    await seed_payment(client, PAYMENT_ID)
    ws = await open_live(client, PAYMENT_ID)
    await next_snapshot(ws)
    async with asyncio.timeout(5):
        while finished_send_tasks():
            await asyncio.sleep(0.01)
    await ws.close()


def paydesk_frames_awaiting(coro: Coroutine[Any, Any, Any]) -> list[str]:
    """The names of paydesk's functions in the chain of coroutines `coro` is waiting on."""
    names = []
    awaited: Any = coro
    while hasattr(awaited, "cr_code"):
        if awaited.cr_code.co_filename.startswith(SERVER_PACKAGE):
            names.append(awaited.cr_code.co_name)
        awaited = awaited.cr_await
    return names


async def test_only_the_error_middleware_waits_on_an_open_socket(client: TestClient) -> None:
    """The middlewares with nothing to do after the handler keep nothing alive while it runs."""
    await seed_payment(client, PAYMENT_ID)
    # As a browser does: the status page first (it sets the form cookie), then its socket.
    assert (await client.get(f"/payments/{PAYMENT_ID}")).status == 200
    ws = await open_live(client, PAYMENT_ID)
    await next_snapshot(ws)
    chains = [paydesk_frames_awaiting(task.get_coro()) for task in asyncio.all_tasks()]  # type: ignore[arg-type]
    assert [chain for chain in chains if "payment_live" in chain] == [
        ["error_middleware", "payment_live"]
    ]
    await ws.close()
