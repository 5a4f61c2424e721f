"""Closed-loop (N clients back to back) and open-loop (a fixed arrival rate) request drivers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .wire import HttpConnection, HttpError

# Makes the next request's bytes; called once per request, so it can sign with a fresh timestamp.
NextRequest = Callable[[], bytes | None]


@dataclass
class Outcome:
    """What one driver run saw: latencies (seconds), statuses, wall time of the measured part."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    elapsed: float = 0.0
    late_starts: int = 0  # open loop: requests that could not be sent on time (no free connection)

    def record(self, latency: float, status: int, body: bytes) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1
        self.bodies[_tag(body)] += 1

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep this process's own garbage collector out of a measured window.

    The load generator holds as many sockets as paydesk does; with 10,000 of them a full pass
    here stops this process for 100-160 ms, and every request or frame in flight meanwhile would
    be counted as paydesk's latency. What is alive now is frozen (never scanned); the rest of the
    window allocates little that only the collector could free.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def _tag(body: bytes) -> str:
    # The webhook answer's outcome (applied / unchanged / duplicate ...) without parsing JSON.
    marker = body.find(b'"outcome": "')
    if marker < 0:
        return ""
    start = marker + 12
    return body[start : body.find(b'"', start)].decode()


async def closed_loop(
    port: int, next_request: NextRequest, *, concurrency: int, duration: float, warmup: float = 1.0
) -> Outcome:
    """`concurrency` clients, each on its own keep-alive connection, send back to back for
    `warmup + duration` seconds; only the last `duration` seconds are counted."""
    outcome = Outcome()
    conns = [await HttpConnection.open(port) for _ in range(concurrency)]
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def client(conn: HttpConnection) -> None:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            data = next_request()
            if data is None:
                return
            sent = time.perf_counter()
            try:
                status, body = await conn.request(data)
            except HttpError:
                outcome.errors += 1
                return
            done = time.perf_counter()
            if sent >= measure_from:
                outcome.record(done - sent, status, body)

    with collector_paused():
        await asyncio.gather(*(client(c) for c in conns))
    outcome.elapsed = min(time.perf_counter(), stop_at) - measure_from
    for conn in conns:
        conn.close()
    return outcome


async def open_loop(
    port: int,
    next_request: NextRequest,
    *,
    rate: float,
    duration: float,
    max_connections: int = 256,
    warmup: float = 1.0,
) -> Outcome:
    """Requests start at `rate` per second whatever the answers do (as Stripe's redelivery does);
    each latency runs from the request's scheduled start, so a stall counts against every
    request it delays. The first `warmup` seconds are not counted."""
    outcome = Outcome()
    idle: list[HttpConnection] = [await HttpConnection.open(port) for _ in range(16)]
    opened = len(idle)
    free = asyncio.Condition()
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    measure_from = start + warmup
    total = int((warmup + duration) * rate)
    last_done = [measure_from]

    async def one(scheduled: float, data: bytes) -> None:
        nonlocal opened
        async with free:
            if not idle and opened < max_connections:
                opened += 1
                conn = await HttpConnection.open(port)
            else:
                if not idle:
                    outcome.late_starts += 1
                await free.wait_for(lambda: bool(idle))
                conn = idle.pop()
        try:
            status, body = await conn.request(data)
        except HttpError:
            outcome.errors += 1
            return
        done = time.perf_counter()
        if scheduled >= measure_from:
            outcome.record(done - scheduled, status, body)
            last_done[0] = max(last_done[0], done)
        async with free:
            idle.append(conn)
            free.notify()

    with collector_paused():
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            data = next_request()
            if data is None:
                break
            task = asyncio.create_task(one(scheduled, data))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
    # Throughput is what was answered over the time it took to answer it, not the offered rate.
    outcome.elapsed = max(last_done[0] - measure_from, duration)
    for conn in idle:
        conn.close()
    with contextlib.suppress(Exception):
        await asyncio.sleep(0)
    return outcome
