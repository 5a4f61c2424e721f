"""Checkout creation throughput, and webhook latency while 200 checkouts wait on a slow Stripe.

1. POST /api/checkout back to back (16 clients) against the in-process sandbox (its work runs in
   paydesk's own process) and against a standalone sandbox (only paydesk's work in the process).
2. A standalone sandbox answering every API call after 1 s: webhooks at 1,000/s open loop, alone,
   then with 200 clients creating checkouts back to back the whole time. The webhook p99 must not
   move; a /healthz probe (20/s) shows the event loop's own responsiveness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path
from typing import Any

from . import proc
from .events import EventFactory, card_payment_stream, seed_payments, webhook_request
from .load import Outcome, closed_loop, open_loop
from .report import save, summary_ms, table
from .wire import request_bytes

ORDER = json.dumps(
    {"product": "drop-in-class", "quantity": 1, "name": "Ada Lovelace", "email": "ada@example.com"}
).encode()
WEBHOOK_RATE = 1000.0
SLOW_CHECKOUTS = 200
STRIPE_LATENCY = 1.0


def checkout_request(port: int) -> bytes:
    return request_bytes("POST", "/api/checkout", port, ORDER, {"Content-Type": "application/json"})


def _throughput_row(name: str, outcome: Outcome, cpu: float, other: float) -> dict[str, Any]:
    lat = summary_ms(outcome.latencies)
    return {"stripe": name, "checkouts/s": round(outcome.rate, 1), "p50 ms": lat["p50_ms"], "p99 ms": lat["p99_ms"],
            "201": outcome.statuses.get(201, 0), "other status": outcome.completed - outcome.statuses.get(201, 0) + outcome.errors,
            "cpu": round(cpu, 2), "other load": round(other, 2), "statuses": dict(outcome.statuses)}  # fmt: skip


async def throughput(work: Path, seconds: float, concurrency: int = 16) -> list[dict[str, Any]]:
    rows = []
    for mode in ("in-process sandbox", "standalone sandbox"):
        db = work / f"checkout-{mode.split()[0]}.db"
        procs = proc.Processes()
        try:
            extra: dict[str, str] = {}
            sandbox_cpu = None
            if mode.startswith("standalone"):
                sandbox = procs.add(await proc.start_sandbox(work))
                extra = {"STRIPE_API_BASE": sandbox.base, "STRIPE_SECRET_KEY": proc.STRIPE_TEST_KEY}
            server = procs.add(await proc.start_paydesk(db, work, **extra))
            if mode.startswith("standalone"):
                sandbox_cpu = proc.CpuMeter(sandbox.pid)
            cpu, other = (
                proc.CpuMeter(server.pid),
                proc.OtherLoad(server.pid, *(p.pid for p in procs.started)),
            )
            outcome = await closed_loop(
                server.port,
                lambda port=server.port: checkout_request(port),
                concurrency=concurrency,
                duration=seconds,
            )
            row = _throughput_row(mode, outcome, cpu.share(), other.cores())
            if sandbox_cpu is not None:
                row["sandbox cpu"] = round(sandbox_cpu.share(), 2)
            rows.append(row)
            print(
                f"  checkout via {mode}: {row['checkouts/s']:,.0f}/s, p99 {row['p99 ms']:.1f} ms, statuses {row['statuses']}",
                flush=True,
            )
        finally:
            procs.stop_all()
    return rows


async def slow_stripe(work: Path, seconds: float) -> list[dict[str, Any]]:
    db = work / "slow.db"
    proc.migrate(db, work)
    payments = seed_payments(db, int(WEBHOOK_RATE * (seconds + 1) * 2 / 3) + 100)
    half = len(payments) // 2
    factory = EventFactory()
    procs = proc.Processes()
    rows = []
    try:
        sandbox = procs.add(await proc.start_sandbox(work, "--latency", str(STRIPE_LATENCY)))
        server = procs.add(
            await proc.start_paydesk(
                db, work, STRIPE_API_BASE=sandbox.base, STRIPE_SECRET_KEY=proc.STRIPE_TEST_KEY
            )
        )
        for phase, chunk in (
            ("webhooks alone", payments[:half]),
            (f"with {SLOW_CHECKOUTS} slow checkouts", payments[half:]),
        ):
            stream = card_payment_stream(
                factory, chunk, duplicate_share=0.1, rng=random.Random(len(rows))
            )

            def next_webhook(stream=stream) -> bytes | None:
                body = next(stream, None)
                return (
                    None
                    if body is None
                    else webhook_request(body, server.port, proc.WEBHOOK_SECRET)
                )

            checkouts_task = None
            if "checkouts" in phase:
                # Fill the 200 slots first; the checkouts keep running for the whole webhook phase.
                checkouts_task = asyncio.create_task(closed_loop(
                    server.port, lambda: checkout_request(server.port), concurrency=SLOW_CHECKOUTS,
                    duration=seconds + 1, warmup=STRIPE_LATENCY * 3))  # fmt: skip
                await asyncio.sleep(STRIPE_LATENCY * 3)
            cpu, other = proc.CpuMeter(server.pid), proc.OtherLoad(server.pid, sandbox.pid)
            health = request_bytes("GET", "/healthz", server.port)
            webhooks, probe = await asyncio.gather(
                open_loop(server.port, next_webhook, rate=WEBHOOK_RATE, duration=seconds),
                open_loop(
                    server.port,
                    lambda health=health: health,
                    rate=20,
                    duration=seconds,
                    max_connections=4,
                ),
            )
            row = {"phase": phase, "webhooks/s": round(webhooks.rate, 1),
                   "webhook p50 ms": summary_ms(webhooks.latencies)["p50_ms"],
                   "webhook p99 ms": summary_ms(webhooks.latencies)["p99_ms"],
                   "webhook max ms": summary_ms(webhooks.latencies)["max_ms"],
                   "healthz p99 ms": summary_ms(probe.latencies)["p99_ms"],
                   "webhook not ok": webhooks.completed - webhooks.statuses.get(200, 0) + webhooks.errors,
                   "cpu": round(cpu.share(), 2), "other load": round(other.cores(), 2),
                   "webhook": summary_ms(webhooks.latencies), "healthz": summary_ms(probe.latencies)}  # fmt: skip
            if checkouts_task is not None:
                checkouts = await checkouts_task
                lat = summary_ms(checkouts.latencies)
                row.update({"checkouts done": checkouts.completed, "checkout p50 ms": lat["p50_ms"],
                            "checkout p99 ms": lat["p99_ms"], "checkout statuses": dict(checkouts.statuses)})  # fmt: skip
            rows.append(row)
            print(
                f"  {phase}: webhook p99 {row['webhook p99 ms']:.1f} ms, healthz p99 {row['healthz p99 ms']:.1f} ms",
                flush=True,
            )
    finally:
        procs.stop_all()
    return rows


async def run(seconds: float = 10.0) -> dict[str, Any]:
    proc.raise_open_files()
    with proc.scratch("checkout") as work:
        rows = await throughput(work, seconds)
        slow = await slow_stripe(work, seconds + 5)
    return {"throughput": rows, "slow_stripe": slow, "stripe_latency_s": STRIPE_LATENCY,
            "slow_checkouts": SLOW_CHECKOUTS, "webhook_rate": WEBHOOK_RATE}  # fmt: skip


def render(result: dict[str, Any]) -> str:
    first = table("Checkout creation, 16 clients back to back (cpu = paydesk cores)", result["throughput"],
                  ("stripe", "checkouts/s", "p50 ms", "p99 ms", "201", "other status", "cpu", "sandbox cpu", "other load"))  # fmt: skip
    second = table(f"Webhooks at {result['webhook_rate']:.0f}/s with Stripe answering after {result['stripe_latency_s']:.0f} s",
                   result["slow_stripe"], ("phase", "webhooks/s", "webhook p50 ms", "webhook p99 ms", "webhook max ms",
                                           "healthz p99 ms", "checkouts done", "checkout p50 ms", "checkout p99 ms", "cpu", "other load"))  # fmt: skip
    return first + "\n\n" + second


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench checkout")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.seconds))
    result["machine"] = proc.machine()
    print(render(result))
    print(f"saved {save('checkout', result)}")
    return result


if __name__ == "__main__":
    main()
