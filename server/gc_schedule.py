"""Full garbage collections at quiet moments, instead of whenever Python decides mid-burst."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
        started = time.perf_counter()
        found = gc.collect()
        log.debug(
            "full garbage collection: %d unreachable objects, %.0f ms",
            found,
            (time.perf_counter() - started) * 1000,
        )
