"""After a wave of live status pages that vanish, `paydesk serve` gives their memory back within
seconds, on the allocator it runs on by default (glibc's malloc, server/allocator.py); an
operator's own choice of allocator stands."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import sys
from collections.abc import Callable

import pytest
from aiohttp import ClientSession

from server.allocator import GLIBC, server_environment, serves
from tests.conftest import PROJECT_ROOT, wait_until_ok
from tests.test_run import started_paydesk

pytestmark = pytest.mark.skipif(GLIBC is None, reason="the C library is not glibc")

WAVE = 2000  # status pages open at once, then gone
PER_PAYMENT = WAVE // 2
CONNECTING_AT_ONCE = 100  # below the listen backlog


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def environment_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as environ:
        pairs = [entry.partition(b"=") for entry in environ.read().split(b"\0") if entry]
    return {name.decode(): value.decode() for name, _, value in pairs}


def paydesk_env(app_env: dict[str, str], **extra: str) -> dict[str, str]:
    # started_paydesk passes on nothing of PYTHONMALLOC: the allocator is paydesk's choice.
    return {
        **app_env,
        "LIVE_MAX_PER_PAYMENT": str(PER_PAYMENT),
        "LIVE_MAX_CONNECTIONS": str(WAVE + 500),
        **extra,
    }


async def open_status_page(port: int, payment_id: str) -> asyncio.StreamWriter:
    """A page's live socket, as a browser opens it, once paydesk has sent the first snapshot."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /payments/{payment_id}/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n\r\n"
        ).encode()
    )
    answer = await reader.readuntil(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 101"), answer
    await reader.readexactly(2)  # the snapshot's frame header: the page is being served
    return writer


async def open_wave(port: int, payment_ids: list[str], count: int) -> list[asyncio.StreamWriter]:
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def one(payment_id: str) -> asyncio.StreamWriter:
        async with gate:
            return await open_status_page(port, payment_id)

    async with asyncio.timeout(120):
        return await asyncio.gather(*(one(payment_ids[i % 2]) for i in range(count)))


def vanish(writers: list[asyncio.StreamWriter]) -> None:
    """Every phone loses its network: a TCP reset each, no closing handshake."""
    for writer in writers:
        writer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        writer.transport.abort()


async def until(condition: Callable[[], bool], within: float, what: Callable[[], str]) -> None:
    try:
        async with asyncio.timeout(within):
            while not condition():
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(what()) from None


async def steady_rss(pid: int) -> int:
    """paydesk's RSS once it has stopped falling: within 1 MiB over the last 4 s."""
    readings = [rss_bytes(pid)]

    def steady() -> bool:
        readings.append(rss_bytes(pid))
        last = readings[-16:]
        return len(readings) > 16 and max(last) - min(last) <= 2**20

    await until(steady, 60, lambda: f"RSS still moving: {[r >> 20 for r in readings[-16:]]} MiB")
    return readings[-1]


async def checkout(base: str) -> str:
    async with ClientSession() as session:
        answer = await session.post(
            base + "/api/checkout",
            json={"product": "drop-in-class", "name": "Ada", "email": "ada@example.com"},
        )
        assert answer.status == 201, await answer.text()
        return str((await answer.json())["payment_id"])


@pytest.mark.timeout(240)
async def test_the_memory_of_a_vanished_wave_of_status_pages_is_given_back(
    app_env: dict[str, str],
) -> None:
    port = int(app_env["PORT"])
    base = f"http://127.0.0.1:{port}"
    with started_paydesk([sys.executable, "run.py"], PROJECT_ROOT, paydesk_env(app_env)) as process:
        await wait_until_ok(base + "/healthz")
        # Started again by exec, same process: the operator's service manager sees no change.
        assert environment_of(process.pid)["PYTHONMALLOC"] == "malloc"
        payment_ids = [await checkout(base), await checkout(base)]
        vanish(await open_wave(port, payment_ids, 100))  # what a first wave loads, once
        before = await steady_rss(process.pid)

        wave = await open_wave(port, payment_ids, WAVE)
        during = rss_bytes(process.pid)
        # The wave took memory, or what follows shows nothing.
        assert during - before > 24 * 2**20, (before >> 20, during >> 20)
        vanish(wave)

        # Python's own allocator keeps ~70 % of it for good (its arenas stay while one object
        # in them lives); given back, what stays is a few MiB.
        def given_back() -> bool:
            return rss_bytes(process.pid) - before < (during - before) / 4

        await until(
            given_back,
            60,
            lambda: (
                f"RSS {before >> 20} MiB before the wave, {during >> 20} during it, "
                f"{rss_bytes(process.pid) >> 20} a minute after it vanished"
            ),
        )


async def test_an_allocator_the_operator_names_is_kept(app_env: dict[str, str]) -> None:
    env = paydesk_env(app_env, PYTHONMALLOC="pymalloc")
    with started_paydesk([sys.executable, "run.py"], PROJECT_ROOT, env) as process:
        await wait_until_ok(f"http://127.0.0.1:{app_env['PORT']}/healthz")
        assert environment_of(process.pid)["PYTHONMALLOC"] == "pymalloc"


@pytest.mark.parametrize(
    ("args", "serves_the_web"),
    [([], True), (["serve"], True), (["serve", "--workers", "2"], True), (["--help"], False),
     (["doctor"], False), (["migrate"], False), (["sandbox", "--port", "1"], False)],
)  # fmt: skip
def test_only_the_server_is_started_again(args: list[str], serves_the_web: bool) -> None:
    assert serves(args) is serves_the_web


def test_the_server_environment_names_malloc_unless_the_operator_named_one() -> None:
    assert server_environment({"PATH": "/bin"}) == {"PATH": "/bin", "PYTHONMALLOC": "malloc"}
    assert server_environment({"PYTHONMALLOC": ""}) == {"PYTHONMALLOC": "malloc"}  # empty: unset
    assert server_environment({"PYTHONMALLOC": "pymalloc"}) is None
    assert server_environment({"PYTHONMALLOC": "malloc_debug"}) is None
