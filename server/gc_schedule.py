"""Full garbage collections at quiet moments, not mid-burst; then freed memory goes back."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .pacing import Foreground

log = logging.getLogger(__name__)


# Python runs a full (oldest-generation) pass whenever the objects it tracks have grown by a
# quarter. Every open status socket holds about 77 of them, so with 10,000 watchers a pass stops
# the event loop for 150-600 ms, and watchers connecting during a launch trigger one every few
# seconds: each delays every push and webhook that arrives meanwhile. Young generations are
# still collected as usual (they are small and quick); the full pass runs here instead.
FULL_PASS_EVERY = 300.0  # seconds between full passes
QUIET_FOR = 1.0  # a pass waits for this long without a request, so it delays nobody
LONGEST_WAIT = 300.0  # when it never gets quiet, the pass runs anyway after this much longer
NEVER = 1_000_000_000  # gc's third threshold: Python itself never starts a full pass


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


# After thousands of live sockets close, the C allocator keeps the pages they used: glibc hands
# back freed memory only from the top of its heap, never from holes below memory still in use.
# malloc_trim(0) tells the kernel that every free page of every heap is unused. With Python's own
# small-object allocator (pymalloc, the default) that is glibc's share, ~15 MiB after a burst of
# 5,000 sockets; with PYTHONMALLOC=malloc it is nearly all of it (docs/PERFORMANCE.md, "Dropped
# sockets"). It holds glibc's lock while it walks the free lists, 1-4 ms, up to ~70 ms with
# 120 MiB to give back, so it runs right after a full pass, at the same quiet moment.
MALLOC_TRIM = _find_malloc_trim()


@dataclass(frozen=True)
class FullPass:
    """What one full pass did: unreachable objects found, and how long each part stopped the loop."""

    found: int
    collect_ms: float
    trim_ms: float | None  # None where the C library cannot give memory back (not glibc)


def full_pass(trim: Callable[[int], int] | None) -> FullPass:
    """Collect every generation, then hand what the allocator keeps free back to the system (with
    `trim`, glibc's malloc_trim; None where there is none)."""
    started = time.perf_counter()
    found = gc.collect()
    collected = time.perf_counter()
    if trim is None:
        return FullPass(found, (collected - started) * 1000, None)
    trim(0)
    return FullPass(found, (collected - started) * 1000, (time.perf_counter() - collected) * 1000)


@asynccontextmanager
async def full_passes_when_quiet(
    foreground: Foreground,
    *,
    every: float = FULL_PASS_EVERY,
    quiet_for: float = QUIET_FOR,
    longest_wait: float = LONGEST_WAIT,
) -> AsyncIterator[None]:
    """While inside, Python starts no full pass; one runs every `every` seconds at a quiet moment."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], NEVER)
    task = asyncio.create_task(
        _collect_when_quiet(foreground, every, quiet_for, longest_wait), name="gc-schedule"
    )
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        gc.set_threshold(*thresholds)


async def _collect_when_quiet(
    foreground: Foreground, every: float, quiet_for: float, longest_wait: float
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        give_up_waiting = loop.time() + longest_wait
        # Polled: a request only stamps a time (an Event set per request would cost every request).
        while foreground.quiet_for() < quiet_for and loop.time() < give_up_waiting:
            still_to_wait = min(quiet_for - foreground.quiet_for(), give_up_waiting - loop.time())
            await asyncio.sleep(max(still_to_wait, 0.01))
        done = full_pass(MALLOC_TRIM)
        log.debug(
            "full garbage collection: %d unreachable objects, %.0f ms; free memory handed back: %s",
            done.found,
            done.collect_ms,
            "no (not glibc)" if done.trim_ms is None else f"{done.trim_ms:.0f} ms",
        )
