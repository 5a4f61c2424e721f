"""Live sockets that clients drop abruptly are freed when their handler ends, not at a full collection."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import socket
import struct
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import SERVER_OPTIONS, create_app
from server.config import load_config
from server.console.keys import console_key
from server.web.fanout import Hub, Subscriber
from server.web.keys import status_pages_key
from tests.console_helpers import FAST, sign_in
from tests.seed import seed_payment

PAYMENT_ID = "pay_churn"
SOCKETS = 20  # the most one payment may have open (LIVE_MAX_PER_PAYMENT)


class ServedLikePaydesk(TestServer):
    """The test server with the options `paydesk serve` runs with: a handler whose client went away
    is not cancelled but reads the end of the stream (aiohttp's test server cancels it instead)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return web.AppRunner(
            self.app, **{**kwargs, **SERVER_OPTIONS, "handler_cancellation": False}
        )


@pytest.fixture(params=["as paydesk serves", "cancelling handlers"])
async def served(request, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    """paydesk with a signed-in console, served both ways a lost client can end a handler."""
    config = replace(load_config(app_env, env_file=None), console=FAST)
    app = await create_app(config)
    server_type = ServedLikePaydesk if request.param == "as paydesk serves" else TestServer
    server = server_type(app, host=config.host, port=config.port)
    client = await aiohttp_client(server)
    await sign_in(client)
    return client


async def open_raw_socket(
    client: TestClient, path: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Upgrade a bare TCP connection to a WebSocket on `path`, with the client's cookies."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    cookies = "; ".join(
        f"{name}={morsel.value}"
        for name, morsel in client.session.cookie_jar.filter_cookies(client.make_url(path)).items()
    )
    key = base64.b64encode(os.urandom(16)).decode()
    head = [
        f"GET {path} HTTP/1.1",
        f"Host: {client.host}:{client.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://{client.host}:{client.port}",
        f"Cookie: {cookies}",
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = await reader.readuntil(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return reader, writer


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection as a vanished phone does: a TCP reset, no closing handshake."""
    writer.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    writer.transport.abort()


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """Only reference counting frees objects inside: anything kept by a cycle stays."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def live_objects() -> list[weakref.ref[Any]]:
    return [
        weakref.ref(o)
        for o in gc.get_objects()
        if isinstance(o, web.WebSocketResponse | Subscriber)
    ]


async def wait_until(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    try:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(what()) from None


Prepare = Callable[[list[asyncio.StreamReader]], Awaitable[None]]


async def drop_abruptly_and_check_freed(
    client: TestClient, path: str, hub: Hub, prepare: Prepare | None = None
) -> None:
    """Open SOCKETS sockets on `path`, reset them all, and wait for every one to be freed."""
    with no_garbage_collection():
        sockets = [await open_raw_socket(client, path) for _ in range(SOCKETS)]
        await wait_until(lambda: hub.count == SOCKETS, lambda: f"{hub.count} sockets registered")
        if prepare is not None:
            await prepare([reader for reader, _ in sockets])
        alive = live_objects()
        assert len(alive) == 2 * SOCKETS  # a socket and a subscriber each
        for _, writer in sockets:
            reset(writer)
        await wait_until(lambda: hub.count == 0, lambda: f"{hub.count} sockets still registered")
        await wait_until(
            lambda: all(ref() is None for ref in alive),
            lambda: (
                f"{sum(ref() is not None for ref in alive)} of {len(alive)} sockets and "
                "subscribers still alive after their clients dropped"
            ),
        )


async def test_dropped_status_page_sockets_are_freed_without_a_collection(
    served: TestClient,
) -> None:
    await seed_payment(served, PAYMENT_ID)
    hub = served.server.app[status_pages_key].hub
    await drop_abruptly_and_check_freed(served, f"/payments/{PAYMENT_ID}/live", hub)


async def test_dropped_console_sockets_are_freed_without_a_collection(served: TestClient) -> None:
    hub = served.server.app[console_key].feed.hub
    await drop_abruptly_and_check_freed(served, "/admin/live", hub)


async def test_sockets_cut_off_with_frames_queued_are_freed_too(served: TestClient) -> None:
    """A client dropped while a send is under way and more frames wait in its queue."""
    await seed_payment(served, PAYMENT_ID)
    hub = served.server.app[status_pages_key].hub

    async def fill_queues(_: list[asyncio.StreamReader]) -> None:
        for version in range(100, 104):
            hub.publish(PAYMENT_ID, "x" * 200_000, version)

    await drop_abruptly_and_check_freed(served, f"/payments/{PAYMENT_ID}/live", hub, fill_queues)


async def test_the_socket_a_heartbeat_visited_last_is_freed_too(served: TestClient) -> None:
    """The heartbeat task outlives every socket; it must not hold on to the last one it visited."""
    await seed_payment(served, PAYMENT_ID)
    hub = served.server.app[status_pages_key].hub
    hub.heartbeat_every_s = 0.3

    async def heartbeats_sent(readers: list[asyncio.StreamReader]) -> None:
        async with asyncio.timeout(10):
            for reader in readers:
                await reader.readuntil(b'{"type": "heartbeat"}')

    await drop_abruptly_and_check_freed(
        served, f"/payments/{PAYMENT_ID}/live", hub, heartbeats_sent
    )
