"""Slow clients and floods: bodies and headers that never arrive are cut, and one client cannot hold every slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, TCPConnector, web

from server.app import create_app, server_options
from server.config import load_config
from server.web.keys import config_key
from tests import lifecycle_events as flows
from tests.conftest import wait_until_ok
from tests.stripe_signing import event_body, sign
from tests.test_run import LoggedPaydesk

# Generous: only a server that never cuts the client crosses it.
CUT_WITHIN_S = 15

Start = Callable[..., Awaitable[web.Application]]


@pytest.fixture
async def start(aiohttp_server, app_env: dict[str, str]) -> Start:  # type: ignore[no-untyped-def]
    """paydesk with `app_env` plus overrides, served with the options `paydesk` runs it with."""

    async def started(**overrides: str) -> web.Application:
        config = load_config({**app_env, **overrides}, env_file=None)
        app = await create_app(config)
        await aiohttp_server(app, host=config.host, port=config.port, **server_options(config))
        return app

    return started


class RawClient:
    """One TCP connection on loopback that speaks HTTP by hand, as slowly as a test likes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: str) -> None:
        self.writer.write(data.encode())
        await self.writer.drain()

    async def answer(self) -> str:
        """Everything the server sends until it closes the connection."""
        async with asyncio.timeout(CUT_WITHIN_S):
            return (await self.reader.read()).decode(errors="replace")

    async def status_line(self) -> str:
        async with asyncio.timeout(CUT_WITHIN_S):
            return (await self.reader.readline()).decode().strip()

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def connect(app_env: dict[str, str]) -> AsyncIterator[Callable[..., Awaitable[RawClient]]]:
    opened: list[RawClient] = []

    async def connect(source: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", int(app_env["PORT"]), local_addr=(source, 0)
        )
        opened.append(RawClient(reader, writer))
        return opened[-1]

    yield connect
    for client in opened:
        client.close()


def upload_head(path: str = "/checkout", length: int = 1000) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    )


async def test_a_body_that_stops_arriving_is_answered_408_and_closed(
    start: Start, connect: Callable[..., Awaitable[RawClient]]
) -> None:
    await start(BODY_IDLE_TIMEOUT="1")
    client = await connect()
    await client.send(upload_head() + "product=drop-in")
    began = time.monotonic()
    answer = await client.answer()
    assert answer.startswith("HTTP/1.1 408 ")
    assert "The request body arrived too slowly" in answer
    assert time.monotonic() - began < CUT_WITHIN_S


async def test_a_body_that_crawls_is_cut_at_its_deadline_by_size(
    start: Start, connect: Callable[..., Awaitable[RawClient]]
) -> None:
    # 8,192 bytes at no less than 4,096 a second, after 1 s of grace: 3 s in all.
    await start(BODY_IDLE_TIMEOUT="1", BODY_MIN_RATE="4096")
    client = await connect()
    await client.send(upload_head(length=8192))

    async def trickle() -> None:
        while True:  # a byte every 0.2 s: never idle for a second, but far too slow
            await client.send("x")
            await asyncio.sleep(0.2)

    feeding = asyncio.create_task(trickle())
    try:
        assert (await client.status_line()).startswith("HTTP/1.1 408 ")
    finally:
        feeding.cancel()


async def test_headers_that_trickle_in_and_idle_connections_are_closed(
    start: Start, connect: Callable[..., Awaitable[RawClient]]
) -> None:
    await start(KEEPALIVE_TIMEOUT="1")
    slow = await connect()
    await slow.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    async def trickle() -> None:
        while True:
            await slow.send("X-Padding: a\r\n")
            await asyncio.sleep(0.2)

    feeding = asyncio.create_task(trickle())
    try:
        assert await slow.answer() == ""  # closed without an answer
    except ConnectionResetError:
        pass  # closed while we were still writing: cut all the same
    finally:
        feeding.cancel()

    idle = await connect()
    await idle.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await idle.status_line()).startswith("HTTP/1.1 200 ")
    await idle.answer()  # returns once the idle keep-alive connection is closed


async def hold_uploads(
    connect: Callable[..., Awaitable[RawClient]], source: str, count: int
) -> None:
    for _ in range(count):
        await (await connect(source)).send(upload_head() + "product=")


async def get(url: str, source: str = "127.0.0.1") -> tuple[int, str, str | None]:
    """GET `url` from the loopback address `source`: another address is another client."""
    connector = TCPConnector(local_addr=(source, 0))
    async with ClientSession(connector=connector) as session, session.get(url) as response:
        return response.status, await response.text(), response.headers.get("Retry-After")


async def until_busy(url: str, source: str) -> tuple[int, str, str | None]:
    """The answer once the held uploads have reached the server (connecting is not arriving)."""
    async with asyncio.timeout(CUT_WITHIN_S):
        while (answer := await get(url, source))[0] != 503:
            await asyncio.sleep(0.05)
    return answer


async def post_signed_event(app: web.Application, base: str) -> int:
    event = flows.card_success(flows.Stripe("hand-built"))[-1]
    event = {**event, "created": int(time.time()), "type": "checkout.session.not_used_here"}
    body = event_body(event)
    signature = sign(body, app[config_key].webhook_secrets[0])
    async with (
        ClientSession() as session,
        session.post(
            base + "/webhooks/stripe",
            data=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        ) as response,
    ):
        return response.status


async def test_one_client_holding_uploads_is_refused_and_no_one_else_is(
    start: Start, connect: Callable[..., Awaitable[RawClient]], app_env: dict[str, str]
) -> None:
    base = f"http://127.0.0.1:{app_env['PORT']}"
    await start(MAX_REQUESTS_PER_CLIENT="3", MAX_REQUESTS="10")
    await hold_uploads(connect, "127.0.0.2", 3)
    _status, text, retry_after = await until_busy(base + "/", "127.0.0.2")
    assert "Too many requests from your address are in progress at once" in text
    assert retry_after == "5"
    assert (await get(base + "/", "127.0.0.3"))[0] == 200  # another customer


async def test_when_all_slots_are_held_health_and_stripe_still_get_through(
    start: Start, connect: Callable[..., Awaitable[RawClient]], app_env: dict[str, str]
) -> None:
    base = f"http://127.0.0.1:{app_env['PORT']}"
    app = await start(MAX_REQUESTS_PER_CLIENT="2", MAX_REQUESTS="4")
    await hold_uploads(connect, "127.0.0.2", 2)
    await hold_uploads(connect, "127.0.0.3", 2)
    _status, text, retry_after = await until_busy(base + "/", "127.0.0.4")
    assert "paydesk is busy right now" in text and retry_after == "5"
    assert (await get(base + "/healthz"))[0] == 200
    assert await post_signed_event(app, base) == 200


async def test_a_slot_is_given_back_when_its_upload_is_cut(
    start: Start, connect: Callable[..., Awaitable[RawClient]], app_env: dict[str, str]
) -> None:
    base = f"http://127.0.0.1:{app_env['PORT']}"
    await start(MAX_REQUESTS_PER_CLIENT="1", BODY_IDLE_TIMEOUT="1")
    held = await connect("127.0.0.2")
    await held.send(upload_head() + "product=")
    await until_busy(base + "/", "127.0.0.2")
    assert (await held.status_line()).startswith("HTTP/1.1 408 ")
    assert (await get(base + "/", "127.0.0.2"))[0] == 200


@pytest.fixture
def paydesk(app_env: dict[str, str], tmp_path: Path) -> Iterator[LoggedPaydesk]:
    """`paydesk` as a process, its log going to a file."""
    started = LoggedPaydesk(app_env, tmp_path / "paydesk.log", {})
    yield started
    started.stop()


async def test_a_flood_of_aborted_uploads_leaves_the_log_short(
    paydesk: LoggedPaydesk, app_env: dict[str, str]
) -> None:
    await wait_until_ok(paydesk.base + "/healthz")
    started_size = paydesk.log.stat().st_size

    async def abort() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", int(app_env["PORT"]))
        writer.write((upload_head() + "product=drop").encode())
        await writer.drain()
        await asyncio.sleep(0.05)  # long enough for the server to start reading the body
        writer.close()
        await writer.wait_closed()

    for _ in range(40):
        await asyncio.gather(*(abort() for _ in range(50)))
    await wait_until_ok(paydesk.base + "/healthz")
    log = await asyncio.to_thread(paydesk.stop)
    flood = log.encode()[started_size:].decode()
    assert "the client went away before its request body arrived" in flood
    assert "Traceback" not in flood and "ERROR" not in flood
    assert len(flood) < 4096, flood[:2000]
