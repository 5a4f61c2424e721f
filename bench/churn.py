"""Socket churn: paydesk's memory while clients open live status sockets and drop them abruptly.

Each round opens N sockets on /payments/{id}/live (N / 20 payments, 20 pages each, the default
cap), waits for every first snapshot, then resets them all (SO_LINGER 0 and abort: a TCP RST, no
closing handshake, as a phone that loses its network). paydesk's RSS is read after each round; the
start is after a first round of as many sockets. A second, in-process part counts what a dropped socket leaves to
the garbage collector: K sockets dropped with the collector off, then one `gc.collect()`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import socket
import struct
import time
from pathlib import Path
from typing import Any

from . import proc
from .events import Seeded, seed_payments
from .report import save, table
from .wire import Watcher

PER_PAYMENT = 20  # LIVE_MAX_PER_PAYMENT's default
CONNECT_CONCURRENCY = 100  # below aiohttp's listen backlog of 128
SETTLE_S = 2.0


def reset(watcher: Watcher) -> None:
    """Drop a socket with a TCP reset, without a close frame."""
    assert watcher.transport is not None
    watcher.transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    watcher.transport.abort()


async def churn_round(port: int, payments: list[Seeded], count: int) -> None:
    """Open `count` sockets spread over `payments`, wait for each snapshot, then reset them all."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    watchers: list[Watcher] = []

    async def one(payment: Seeded) -> None:
        async with gate:
            watcher = await Watcher.connect(payment.payment_id, port, deflate=False)
            await asyncio.wait_for(watcher.first_frame, 30)
            watchers.append(watcher)

    await asyncio.gather(*(one(payments[i % len(payments)]) for i in range(count)))
    for watcher in watchers:
        reset(watcher)


async def rss_under_churn(
    template_db: Path, work: Path, payments: list[Seeded], *, per_round: int, rounds: int
) -> dict[str, Any]:
    """One paydesk process: RSS after a warm-up round, then after each round of dropped sockets."""
    db = work / "churn.db"
    shutil.copy(template_db, db)
    procs = proc.Processes()
    rows: list[dict[str, Any]] = []
    try:
        server = procs.add(
            await proc.start_paydesk(db, work, LIVE_MAX_CONNECTIONS=str(per_round + 1000))
        )
        idle_kb = server.rss_kb()
        # A first round reaches the high-water mark of N open sockets: the heap keeps it.
        await churn_round(server.port, payments, per_round)
        await asyncio.sleep(SETTLE_S)
        start_kb = server.rss_kb()
        other = proc.OtherLoad(server.pid)
        for done in range(1, rounds + 1):
            began = time.perf_counter()
            await churn_round(server.port, payments, per_round)
            seconds = time.perf_counter() - began
            await asyncio.sleep(SETTLE_S)
            rss = server.rss_kb()
            rows.append({"dropped": done * per_round, "round s": round(seconds, 1),
                         "RSS MiB": round(rss / 1024, 1),
                         "vs start": f"{(rss - start_kb) / start_kb * 100:+.0f} %"})  # fmt: skip
            print(f"  {done * per_round:>7,} dropped: RSS {rss / 1024:.0f} MiB", flush=True)
        other_cores = round(other.cores(), 2)
    finally:
        procs.stop_all()
    end_kb = int(rows[-1]["RSS MiB"] * 1024)
    peak_kb = int(max(r["RSS MiB"] for r in rows) * 1024)
    return {"per_round": per_round, "rounds": rounds, "rss_idle_kb": idle_kb, "rss_start_kb": start_kb, "rows": rows,
            "growth_end": round((end_kb - start_kb) / start_kb, 3),
            "growth_peak": round((peak_kb - start_kb) / start_kb, 3), "other_load": other_cores}  # fmt: skip


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


async def run_rss(per_round: int, rounds: int, template: Path, work: Path) -> dict[str, Any]:
    payments = seed_payments(template, -(-per_round // PER_PAYMENT))
    return await rss_under_churn(template, work, payments, per_round=per_round, rounds=rounds)


def run(per_round: int = 5000, rounds: int = 8, gc_sockets: int = 200) -> dict[str, Any]:
    proc.raise_open_files()
    with proc.scratch("churn") as work:
        template = work / "seeded.db"
        proc.migrate(template, work)
        result = asyncio.run(run_rss(per_round, rounds, template, work))
        first = seed_payments(template, 1, start=10_000_000)[0]
        result["gc_sockets"] = gc_sockets
        result["garbage_per_socket"] = round(
            garbage_per_socket(template, work, first.payment_id, gc_sockets), 1
        )
    return result


def render(result: dict[str, Any]) -> str:
    title = (f"Socket churn: {result['per_round']:,} sockets opened and reset per round; RSS idle "
             f"{result['rss_idle_kb'] / 1024:.0f} MiB, after a first round (start) "
             f"{result['rss_start_kb'] / 1024:.0f} MiB, end {result['growth_end'] * 100:+.0f} %, "
             f"peak {result['growth_peak'] * 100:+.0f} % (other load {result['other_load']} cores); "
             f"{result['garbage_per_socket']} objects left to the collector per dropped socket")  # fmt: skip
    return table(title, result["rows"], ["dropped", "round s", "RSS MiB", "vs start"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench churn")
    parser.add_argument("--per-round", type=int, default=5000, help="sockets opened and dropped per round")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--gc-sockets", type=int, default=200, help="sockets for the in-process count")  # fmt: skip
    args = parser.parse_args(argv)
    result = run(args.per_round, args.rounds, args.gc_sockets)
    result["machine"] = proc.machine()
    print(render(result))
    print(f"saved {save('churn', result)}")
    return result


if __name__ == "__main__":
    main()
