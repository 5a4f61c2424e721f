"""Full garbage collections: not Python's mid-burst choice, but paydesk's, at a quiet moment, then
freed memory handed back."""

from __future__ import annotations

import asyncio
import gc
import os

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import gc_schedule
from server.gc_schedule import MALLOC_TRIM, NEVER, full_pass
from server.pacing import Foreground
from server.resources import gc_schedule_context
from server.web.foreground import setup_foreground
from server.web.keys import foreground_key


def full_passes() -> int:
    return int(gc.get_stats()[2]["collections"])


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def start(aiohttp_client, **timing: float) -> TestClient:  # type: ignore[no-untyped-def]
    app = web.Application()
    foreground = app[foreground_key] = Foreground()
    setup_foreground(app, foreground)
    app.router.add_get("/", ok)
    app.cleanup_ctx.append(gc_schedule_context(**timing))
    return await aiohttp_client(app)


async def test_python_starts_no_full_pass_while_the_app_runs(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    before = gc.get_threshold()
    client = await start(aiohttp_client, every=3600)
    assert gc.get_threshold() == (before[0], before[1], NEVER)
    passes = full_passes()
    garbage = []
    for _ in range(200_000):  # far more than Python's own rule needs to start a full pass
        cycle: list[object] = []
        cycle.append(cycle)
        garbage.append(cycle)
    del garbage
    assert full_passes() == passes
    # What existed when the app started is no longer walked by a full pass.
    assert gc.get_freeze_count() > 10_000
    await client.close()
    assert gc.get_threshold() == before  # given back when the app stops
    assert gc.get_freeze_count() == 0


async def test_a_full_pass_runs_once_requests_pause(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    client = await start(aiohttp_client, every=0.05, quiet_for=1.0, longest_wait=60)
    foreground = client.server.app[foreground_key]
    passes = full_passes()
    for _ in range(10):  # a request every 50 ms: never quiet for 1 s
        assert (await client.get("/")).status == 200
        await asyncio.sleep(0.05)
    assert full_passes() == passes
    assert foreground.quiet_for() < 1.0
    async with asyncio.timeout(5):
        while full_passes() == passes:
            await asyncio.sleep(0.05)
    assert foreground.quiet_for() >= 1.0


async def test_a_full_pass_runs_even_if_it_never_gets_quiet(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    client = await start(aiohttp_client, every=0.05, quiet_for=60, longest_wait=0.2)
    passes = full_passes()
    async with asyncio.timeout(5):
        while full_passes() == passes:
            assert (await client.get("/")).status == 200
            await asyncio.sleep(0.02)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def heap_with_holes(megabytes: int) -> list[bytes]:
    """Leave `megabytes` of freed memory in holes of glibc's heap, where it keeps them: 64-KiB
    blocks (below its mmap threshold, so on the heap), every other one freed."""
    blocks = [b"\x01" * 65536 for _ in range(megabytes * 32)]  # written: its pages are resident
    return blocks[::2]


@pytest.mark.skipif(MALLOC_TRIM is None, reason="the C library is not glibc")
async def test_a_full_pass_hands_freed_memory_back(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    client = await start(aiohttp_client, every=3600)  # no pass of the schedule's own meanwhile
    kept_blocks = heap_with_holes(48)
    kept = rss_bytes()
    assert full_pass(gc_schedule.MALLOC_TRIM).trim_ms is not None
    # Without the trim, glibc keeps all 48 MiB: each hole sits between two blocks still in use.
    assert rss_bytes() < kept - 24 * 2**20
    del kept_blocks
    await client.close()


async def test_the_schedule_trims_right_after_each_full_pass(aiohttp_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    trims: list[tuple[int, int]] = []

    def trim(pad: int) -> int:
        trims.append((pad, full_passes()))
        return 1

    monkeypatch.setattr(gc_schedule, "MALLOC_TRIM", trim)
    passes = full_passes()
    await start(aiohttp_client, every=0.05, quiet_for=0.05, longest_wait=60)
    async with asyncio.timeout(5):
        while not trims:
            await asyncio.sleep(0.02)
    pad, passes_then = trims[0]
    assert pad == 0  # every free page, not only the heap's top
    assert passes_then > passes  # after the collection, which is what frees the memory


async def test_without_glibc_a_full_pass_still_runs(aiohttp_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gc_schedule, "MALLOC_TRIM", None)
    assert full_pass(None).trim_ms is None
    passes = full_passes()
    await start(aiohttp_client, every=0.05, quiet_for=0.05, longest_wait=60)
    async with asyncio.timeout(5):
        while full_passes() == passes:
            await asyncio.sleep(0.02)


class Heap:
    """Memory the process keeps but does not use, as the schedule reads it, set by the test."""

    def __init__(self) -> None:
        self.kept_unused = 0

    def read(self) -> int:
        return self.kept_unused


@pytest.fixture
def heap(monkeypatch: pytest.MonkeyPatch) -> Heap:
    heap = Heap()
    monkeypatch.setattr(gc_schedule, "_kept_unused", heap.read)
    return heap


async def until_passes_exceed(passes: int) -> None:
    async with asyncio.timeout(5):
        while full_passes() <= passes:
            await asyncio.sleep(0.02)


async def test_memory_kept_after_a_wave_is_given_back_at_the_next_quiet_moment(  # type: ignore[no-untyped-def]
    aiohttp_client, heap: Heap
) -> None:
    timing = {"every": 3600, "quiet_for": 0.3, "give_back_after": 16 * 2**20, "check_every": 0.02}
    client = await start(aiohttp_client, **timing)
    passes = full_passes()
    heap.kept_unused = 15 * 2**20  # less than is worth a pause
    await asyncio.sleep(0.5)
    assert full_passes() == passes

    heap.kept_unused = 64 * 2**20  # a wave of sockets closed: their pages are kept
    for _ in range(10):  # while requests keep coming, no pause for them
        assert (await client.get("/")).status == 200
        await asyncio.sleep(0.05)
    assert full_passes() == passes
    await until_passes_exceed(passes)
    assert client.server.app[foreground_key].quiet_for() >= 0.3

    # What a pass could not give back (pymalloc's pinned arenas) is the new baseline: no pass
    # after pass for the same memory, one again only when more is kept.
    passes = full_passes()
    await asyncio.sleep(0.5)
    assert full_passes() == passes
    heap.kept_unused += 16 * 2**20
    await until_passes_exceed(passes)


async def test_the_schedule_reads_what_the_process_keeps_unused() -> None:
    if gc_schedule.HEAP_IN_USE is None:
        assert gc_schedule._kept_unused() == 0  # no early passes where glibc cannot say
        return
    before = gc_schedule._kept_unused()
    kept_blocks = heap_with_holes(48)
    assert gc_schedule._kept_unused() - before > 16 * 2**20  # the holes: resident, not in use
    full_pass(gc_schedule.MALLOC_TRIM)
    assert gc_schedule._kept_unused() - before < 8 * 2**20  # handed back
    del kept_blocks
