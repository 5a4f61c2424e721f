"""Socket churn: paydesk's memory while clients open live status sockets and drop them abruptly.

Each round opens N sockets on /payments/{id}/live (N / 20 payments, 20 pages each, the default
cap), waits for every first snapshot, then resets them all (SO_LINGER 0 and abort: a TCP RST, no
closing handshake, as a phone that loses its network). paydesk's RSS is read with the first
round's N sockets open (the peak), after each round once its memory has stopped falling (the
start is after the first; paydesk gives freed memory back at its next quiet moment,
gc_schedule.py), and once its periodic full collection has run (5 minutes after it started).
A second paydesk process, run alike with tracemalloc on, gives the memory Python itself holds
after each round; a third, in-process part counts what a dropped socket leaves to the garbage
collector: K sockets dropped with the collector off, then one `gc.collect()`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import proc
from .events import Seeded, seed_payments
from .report import save, table
from .wire import Watcher

PER_PAYMENT = 20  # LIVE_MAX_PER_PAYMENT's default
CONNECT_CONCURRENCY = 100  # below aiohttp's listen backlog of 128
SETTLE_S = 2.0
STEADY_OVER_S = 4.0  # > gc_schedule.CHECK_EVERY + QUIET_FOR: a trim due would have run
# paydesk's first full collection comes FULL_PASS_EVERY (300 s) after it started, once no request
# has come for a second; the bench sends none by then, so this is after it with a margin.
FIRST_PASS_AFTER_S = 300.0 + 1.0 + 10.0
# What `paydesk serve` runs on unless PYTHONMALLOC names another (server/allocator.py); the traced
# process starts paydesk without that entry point, so it is named there.
SERVER_ALLOCATOR = "malloc"
TRACED_FILE = "BENCH_TRACED_FILE"  # where a traced paydesk writes its figure on SIGUSR1


def reset(watcher: Watcher) -> None:
    """Drop a socket with a TCP reset, without a close frame."""
    assert watcher.transport is not None
    watcher.transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    watcher.transport.abort()


async def churn_round(
    port: int, payments: list[Seeded], count: int, while_open: Callable[[], None] | None = None
) -> None:
    """Open `count` sockets spread over `payments`, wait for each snapshot, then reset them all
    (`while_open` runs while all of them are open)."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    watchers: list[Watcher] = []

    async def one(payment: Seeded) -> None:
        async with gate:
            watcher = await Watcher.connect(payment.payment_id, port, deflate=False)
            await asyncio.wait_for(watcher.first_frame, 30)
            watchers.append(watcher)

    await asyncio.gather(*(one(payments[i % len(payments)]) for i in range(count)))
    if while_open is not None:
        while_open()
    for watcher in watchers:
        reset(watcher)


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def settle(server: proc.Process, open_before: int) -> None:
    """Wait until paydesk has closed the round's sockets (its open files are back) and its memory
    has stopped falling (it gives freed memory back at its next quiet moment, gc_schedule.py)."""
    deadline = time.monotonic() + 120
    # Polled: /proc has nothing to wait on.
    while open_files(server.pid) > open_before + 5 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    readings = [server.rss_kb()]
    while time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_S / 4)
        readings.append(server.rss_kb())
        # Steady: within 1 MiB over the last SETTLE_S, after at least the check paydesk makes
        # every CHECK_EVERY seconds and the quiet second it waits for.
        window = readings[-int(STEADY_OVER_S / (SETTLE_S / 4)) :]
        if len(readings) > len(window) and max(window) - min(window) <= 1024:
            break


async def rss_under_churn(
    template_db: Path, work: Path, payments: list[Seeded], *, per_round: int, rounds: int,
    allocator: str, after_pass: bool,
) -> dict[str, Any]:  # fmt: skip
    """One paydesk process: RSS at the first round's peak, after it (the start), after each round
    of dropped sockets, and after paydesk's own next full collection."""
    db = work / "churn.db"
    shutil.copy(template_db, db)
    procs = proc.Processes()
    rows: list[dict[str, Any]] = []
    try:
        server = procs.add(
            await proc.start_paydesk(
                db, work, LIVE_MAX_CONNECTIONS=str(per_round + 1000), PYTHONMALLOC=allocator
            )
        )
        up_at = time.monotonic()
        idle_kb = server.rss_kb()
        open_before = open_files(server.pid)
        peak: list[int] = []
        # A first round reaches the high-water mark of N open sockets: the heap keeps it.
        await churn_round(server.port, payments, per_round, lambda: peak.append(server.rss_kb()))
        await settle(server, open_before)
        start_kb = server.rss_kb()
        other = proc.OtherLoad(server.pid)
        cpu_before = server.cpu_seconds()
        for done in range(1, rounds + 1):
            began = time.perf_counter()
            await churn_round(server.port, payments, per_round)
            seconds = time.perf_counter() - began
            await settle(server, open_before)
            rss = server.rss_kb()
            rows.append({"dropped": done * per_round, "round s": round(seconds, 1),
                         "RSS MiB": round(rss / 1024, 1),
                         "vs start": f"{(rss - start_kb) / start_kb * 100:+.0f} %",
                         "vs idle": f"{(rss - idle_kb) / idle_kb * 100:+.0f} %"})  # fmt: skip
            print(f"  {done * per_round:>7,} dropped: RSS {rss / 1024:.0f} MiB", flush=True)
        other_cores = round(other.cores(), 2)
        cpu_s = server.cpu_seconds() - cpu_before
        after_pass_kb = None
        if after_pass:
            wait = up_at + FIRST_PASS_AFTER_S - time.monotonic()
            print(f"  waiting {max(wait, 0):.0f} s for paydesk's own full collection", flush=True)
            await asyncio.sleep(max(wait, 0))
            after_pass_kb = server.rss_kb()
    finally:
        procs.stop_all()
    end_kb = int(rows[-1]["RSS MiB"] * 1024)
    peak_kb = int(max(r["RSS MiB"] for r in rows) * 1024)
    return {"per_round": per_round, "rounds": rounds, "rss_idle_kb": idle_kb,
            "rss_open_kb": peak[0], "rss_start_kb": start_kb, "rows": rows,
            "growth_end": round((end_kb - start_kb) / start_kb, 3),
            "growth_peak": round((peak_kb - start_kb) / start_kb, 3),
            "rss_after_pass_kb": after_pass_kb,
            # Against the idle process: after its collection, what is left of the whole run.
            "after_pass_vs_idle": None if after_pass_kb is None
            else round((after_pass_kb - idle_kb) / idle_kb, 3),
            "cpu_ms_per_socket": round(cpu_s * 1000 / (per_round * rounds), 3),
            "other_load": other_cores}  # fmt: skip


def serve_traced() -> None:
    """Run paydesk with tracemalloc on; on SIGUSR1 it writes the bytes Python holds to a file."""
    import tracemalloc

    tracemalloc.start()
    out = Path(os.environ[TRACED_FILE])

    def write(_signum: int, _frame: object) -> None:
        out.write_text(str(tracemalloc.get_traced_memory()[0]))

    signal.signal(signal.SIGUSR1, write)
    from server.cli import main

    sys.exit(main(["serve"]))


async def traced_under_churn(
    template_db: Path, work: Path, payments: list[Seeded], *, per_round: int, rounds: int,
    allocator: str,
) -> dict[int, float]:  # fmt: skip
    """The same rounds on a paydesk with tracemalloc on: MiB Python holds after each (0: start)."""
    db = work / "traced.db"
    shutil.copy(template_db, db)
    out = work / "traced.txt"
    port = proc.free_port()
    # Started without `paydesk serve`'s entry point, which would choose the allocator itself.
    child_env = proc.paydesk_env(
        db, port, work, LIVE_MAX_CONNECTIONS=str(per_round + 1000),
        PYTHONMALLOC=allocator or SERVER_ALLOCATOR,
    )  # fmt: skip
    child_env[TRACED_FILE] = str(out)
    child_env["PYTHONPATH"] = os.pathsep.join([str(proc.PAYDESK_ROOT), str(proc.ROOT)])
    argv = [sys.executable, "-c", "from bench.churn import serve_traced; serve_traced()"]
    procs = proc.Processes()
    traced: dict[int, float] = {}
    try:
        server = procs.add(proc._start("paydesk-traced", argv, child_env, port, work))
        await proc.wait_until_up(server, "/healthz", within=60)
        open_before = open_files(server.pid)

        async def read() -> float:
            out.unlink(missing_ok=True)
            os.kill(server.pid, signal.SIGUSR1)
            async with asyncio.timeout(30):
                while not out.exists() or not out.read_text():  # noqa: ASYNC110 - a file
                    await asyncio.sleep(0.05)
            return round(int(out.read_text()) / 2**20, 1)

        for done in range(rounds + 1):
            await churn_round(port, payments, per_round)
            await settle(server, open_before)
            # Traced, paydesk is several times slower: its handlers may still be ending after
            # their sockets closed. Read until the figure stops falling.
            figures = [await read()]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and (
                len(figures) < 2 or figures[-2] - figures[-1] > 0.2
            ):
                await asyncio.sleep(1.0)
                figures.append(await read())
            traced[done * per_round] = figures[-1]
            print(
                f"  traced, {done * per_round:>7,} dropped: {traced[done * per_round]} MiB",
                flush=True,
            )
    finally:
        procs.stop_all()
    return traced


async def _garbage_per_socket(db: Path, work: Path, payment_id: str, sockets: int) -> float:
    # Imported here: the rest of the bench measures paydesk only from the outside.
    from aiohttp import web

    from server.app import SERVER_OPTIONS, create_app
    from server.config import load_config

    port = proc.free_port()
    env = proc.paydesk_env(db, port, work)
    runner = web.AppRunner(await create_app(load_config(env, env_file=None)), **SERVER_OPTIONS)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        payments = [Seeded(payment_id, "", "", "")]
        await churn_round(port, payments, PER_PAYMENT)  # warm-up: first-use caches
        await asyncio.sleep(0.5)
        gc.collect()
        gc.disable()
        try:
            for _ in range(sockets // PER_PAYMENT):
                await churn_round(port, payments, PER_PAYMENT)
                await asyncio.sleep(0.2)  # the handlers see the resets and end
            found = gc.collect()
        finally:
            gc.enable()
    finally:
        await runner.cleanup()
    return found / sockets


def garbage_per_socket(template_db: Path, work: Path, payment_id: str, sockets: int) -> float:
    """Objects only a garbage collection frees, per dropped socket, with paydesk on uvloop in-process."""
    import uvloop

    db = work / "gc.db"
    shutil.copy(template_db, db)
    return uvloop.run(_garbage_per_socket(db, work, payment_id, sockets))


async def run_rss(
    per_round: int, rounds: int, template: Path, work: Path, allocator: str, *,
    after_pass: bool, traced: bool,
) -> dict[str, Any]:  # fmt: skip
    payments = seed_payments(template, -(-per_round // PER_PAYMENT))
    result = await rss_under_churn(
        template,
        work,
        payments,
        per_round=per_round,
        rounds=rounds,
        allocator=allocator,
        after_pass=after_pass,
    )
    if traced:
        by_dropped = await traced_under_churn(
            template, work, payments, per_round=per_round, rounds=rounds, allocator=allocator
        )
        result["traced_start_mib"] = by_dropped[0]
        for row in result["rows"]:
            row["traced MiB"] = by_dropped[row["dropped"]]
    return result


def run(
    per_round: int = 5000, rounds: int = 8, gc_sockets: int = 200, *, allocator: str = "",
    after_pass: bool = False, traced: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The churn figures; `python -m bench all` leaves out the ~5-minute wait for paydesk's own
    collection and the traced process, `python -m bench churn` has both unless told not to."""
    proc.raise_open_files()
    with proc.scratch("churn") as work:
        template = work / "seeded.db"
        proc.migrate(template, work)
        result = asyncio.run(
            run_rss(
                per_round, rounds, template, work, allocator, after_pass=after_pass, traced=traced
            )
        )
        result["allocator"] = allocator or f"{SERVER_ALLOCATOR} (paydesk's default)"
        first = seed_payments(template, 1, start=10_000_000)[0]
        result["gc_sockets"] = gc_sockets
        result["garbage_per_socket"] = round(
            garbage_per_socket(template, work, first.payment_id, gc_sockets), 1
        )
    return result


def render(result: dict[str, Any]) -> str:
    mib = 1024
    after = result.get("rss_after_pass_kb")
    title = (f"Socket churn ({result.get('allocator', 'pymalloc')}): {result['per_round']:,} sockets "
             f"opened and reset per round; RSS idle {result['rss_idle_kb'] / mib:.0f} MiB, with the "
             f"first {result['per_round']:,} open {result.get('rss_open_kb', 0) / mib:.0f} MiB, after them "
             f"(start) {result['rss_start_kb'] / mib:.0f} MiB; end {result['growth_end'] * 100:+.0f} %, "
             f"peak {result['growth_peak'] * 100:+.0f} %"
             + ("" if after is None else f"; after paydesk's own full collection {after / mib:.0f} MiB "
                f"({result['after_pass_vs_idle'] * 100:+.0f} % over idle)")
             + ("" if "traced_start_mib" not in result else
                f"; Python's own (tracemalloc) at start {result['traced_start_mib']} MiB")
             + f"; paydesk's CPU {result.get('cpu_ms_per_socket', 0):.2f} ms per socket"
             + f" (other load {result['other_load']} cores); {result['garbage_per_socket']} objects "
             "left to the collector per dropped socket")  # fmt: skip
    columns = ["dropped", "round s", "RSS MiB", "vs start", "vs idle"]
    if "traced_start_mib" in result:
        columns.append("traced MiB")
    return table(title, result["rows"], columns)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench churn")
    parser.add_argument("--per-round", type=int, default=5000, help="sockets opened and dropped per round")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--gc-sockets", type=int, default=200, help="sockets for the in-process count")  # fmt: skip
    parser.add_argument("--allocator", choices=("", "malloc", "pymalloc"), default="",
                        help="PYTHONMALLOC for paydesk (default: paydesk's own choice, malloc on glibc)")  # fmt: skip
    parser.add_argument("--no-after-pass", action="store_true",
                        help="do not wait (~5 minutes) for paydesk's own full collection")  # fmt: skip
    parser.add_argument("--no-traced", action="store_true",
                        help="skip the second, traced paydesk (Python's own memory)")  # fmt: skip
    args = parser.parse_args(argv)
    result = run(args.per_round, args.rounds, args.gc_sockets, allocator=args.allocator,
                 after_pass=not args.no_after_pass, traced=not args.no_traced)  # fmt: skip
    result["machine"] = proc.machine()
    print(render(result))
    print(f"saved {save('churn', result)}")
    return result


if __name__ == "__main__":
    main()
