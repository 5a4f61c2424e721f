"""Full garbage collections at quiet moments, not mid-burst; then freed memory goes back."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .allocator import GLIBC
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


# After thousands of live sockets close, the C allocator keeps the pages they used: glibc hands
# back freed memory only from the top of its heap, never from holes below memory still in use.
# malloc_trim(0) tells the kernel that every free page of every heap is unused. On glibc's malloc
# (the server's allocator, allocator.py) that is nearly all a wave of sockets used: 153 -> 75 MiB
# after 5,000 (docs/PERFORMANCE.md, "Dropped sockets"); under pymalloc only glibc's share. It
# holds glibc's lock while it walks the free lists, 25-35 ms with 120 MiB to give back, so it
# runs right after a full pass, at the same quiet moment.
MALLOC_TRIM = GLIBC.trim if GLIBC else None
# Memory resident but not in use: pages the allocators keep after what was in them was freed. When
# it has grown this much since the last pass (a wave of sockets closed, a burst of large requests
# ended), the next quiet moment gets a pass and a trim then, not minutes later; a pass that can
# give nothing back (pymalloc's pinned arenas) sets the new baseline, so it does not repeat.
# Where glibc cannot say what it has in use (not glibc, or before 2.33) only periodic passes run.
HEAP_IN_USE = GLIBC.in_use if GLIBC else None
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
GIVE_BACK_AFTER = 16 * 2**20  # bytes kept but unused since the last pass that call for an early one
CHECK_EVERY = 2.0  # seconds between looks (/proc/self/statm and mallinfo2: tens of microseconds)


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
    give_back_after: float = GIVE_BACK_AFTER,
    check_every: float = CHECK_EVERY,
) -> AsyncIterator[None]:
    """While inside, Python starts no full pass; one runs every `every` seconds at a quiet moment,
    and sooner, at the first quiet moment once the process keeps `give_back_after` bytes more
    resident but unused than after the last pass (looked at every `check_every` seconds)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], NEVER)
    # What exists by now (modules, the app, its resources: ~70,000 objects) lives as long as the
    # process; frozen, a full pass no longer walks it: 17-33 ms -> under 1 ms. Reference counting
    # still frees what of it is let go; only cycles among it would wait for the unfreeze. Start-up
    # leaves no unreachable cycle in the oldest generation (measured: 0 objects), so only the
    # young ones are collected first: a full pass here would cost every in-process start.
    gc.collect(1)
    gc.freeze()
    schedule = _Schedule(foreground, every, quiet_for, longest_wait, give_back_after, check_every)
    task = asyncio.create_task(schedule.run(), name="gc-schedule")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@dataclass
class _Schedule:
    foreground: Foreground
    every: float
    quiet_for: float
    longest_wait: float
    give_back_after: float
    check_every: float

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            next_pass = loop.time() + self.every
            kept_after_pass = kept = _kept_unused()
            while loop.time() < next_pass:
                await asyncio.sleep(min(self.check_every, next_pass - loop.time()))
                kept = _kept_unused()
                # Early, only at a moment already quiet: waiting for one is the periodic pass's job.
                if kept - kept_after_pass >= self.give_back_after and self._quiet():
                    break
            else:
                await self._quiet_moment()
            done = full_pass(MALLOC_TRIM)
            log.debug(
                "full garbage collection (%s): %d unreachable objects, %.0f ms; free memory "
                "handed back: %s",
                "periodic" if loop.time() >= next_pass else f"{kept >> 20} MiB kept unused",
                done.found,
                done.collect_ms,
                "no (not glibc)" if done.trim_ms is None else f"{done.trim_ms:.0f} ms",
            )

    def _quiet(self) -> bool:
        return self.foreground.quiet_for() >= self.quiet_for

    async def _quiet_moment(self) -> None:
        """Wait for a moment without requests, or at most `longest_wait`."""
        loop = asyncio.get_running_loop()
        give_up_waiting = loop.time() + self.longest_wait
        # Polled: a request only stamps a time (an Event set per request would cost every request).
        while not self._quiet() and loop.time() < give_up_waiting:
            still_to_wait = min(
                self.quiet_for - self.foreground.quiet_for(), give_up_waiting - loop.time()
            )
            await asyncio.sleep(max(still_to_wait, 0.01))


def _kept_unused() -> int:
    """Bytes resident in this process that the C allocator has not handed out; 0 where it cannot
    say (then no early pass is ever due). Code, libraries and pymalloc's arenas count as unused:
    only a rise matters."""
    if HEAP_IN_USE is None:
        return 0
    with open("/proc/self/statm", "rb") as statm:
        resident = int(statm.read().split()[1]) * PAGE_SIZE
    return resident - HEAP_IN_USE()
