"""Webhook ingestion: paydesk beside the reference handler at concurrency 1, 16, 64, then an open-loop rate.

Each level gets payments nobody has sent events for yet, and a stream of their card-payment events
(charge.succeeded, payment_intent.succeeded, checkout.session.completed) with a share of Stripe
redeliveries mixed in. Every answer is counted only after the server committed (paydesk and the
reference both answer after COMMIT, synchronous=FULL). Beside each row, the size of paydesk's
write-ahead log (peak and at the end of the phase); `--saturate SECONDS` adds a long closed-loop
phase at c=64 against paydesk alone, to show that the WAL stays bounded under sustained load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

from . import postgres, proc
from .events import EventFactory, card_payment_stream, count_rows, seed_payments, webhook_request
from .load import Outcome, closed_loop, open_loop
from .report import save, summary_ms, table

LEVELS = (1, 16, 64)
DUPLICATE_SHARE = 0.1
OPEN_LOOP_RATE = 1000.0
SATURATION_LEVEL = 64
MB = 1024 * 1024


class WalMeter:
    """Samples the size of a database's WAL file five times a second while a phase runs."""

    def __init__(self, database: Path) -> None:
        self._wal = database.with_name(database.name + "-wal")
        self.peak = 0
        self._task = asyncio.create_task(self._sample())

    def _size(self) -> int:
        try:
            return self._wal.stat().st_size
        except FileNotFoundError:
            return 0

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._size())
            await asyncio.sleep(0.2)

    async def stop(self) -> dict[str, float]:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        end = self._size()
        return {"wal peak MB": round(max(self.peak, end) / MB, 1), "wal end MB": round(end / MB, 1)}


class Feed:
    """Hands out signed webhook requests for a slice of the seeded payments."""

    def __init__(self, factory: EventFactory, payments: list[Any], port: int, seed: int) -> None:
        self._stream = card_payment_stream(
            factory, payments, duplicate_share=DUPLICATE_SHARE, rng=random.Random(seed)
        )
        self._port = port
        self.sent = 0

    def __call__(self) -> bytes | None:
        body = next(self._stream, None)
        if body is None:
            return None
        self.sent += 1
        return webhook_request(body, self._port, proc.WEBHOOK_SECRET)


def _row(target: str, mode: str, outcome: Outcome, cpu: float, other: float) -> dict[str, Any]:
    lat = summary_ms(outcome.latencies)
    ok = outcome.statuses.get(200, 0)
    return {
        "target": target,
        "load": mode,
        "events/s": round(outcome.rate, 1),
        "p50 ms": lat["p50_ms"],
        "p99 ms": lat["p99_ms"],
        "max ms": lat["max_ms"],
        "ok": ok,
        "not ok": outcome.completed - ok + outcome.errors,
        "cpu": round(cpu, 2),
        # Server CPU per answered event: far steadier than throughput when other programs share the cores.
        "cpu us/event": round(cpu / outcome.rate * 1e6) if outcome.rate else None,
        "other load": round(other, 2),
        "outcomes": dict(outcome.bodies),
        "latency": lat,
        "late_starts": outcome.late_starts,
    }


async def run(
    duration: float = 8.0,
    levels: tuple[int, ...] = LEVELS,
    open_loop_seconds: float = 15.0,
    saturate_seconds: float = 0.0,
) -> dict[str, Any]:
    proc.raise_open_files()
    procs = proc.Processes()
    rows: list[dict[str, Any]] = []
    with proc.scratch("webhooks") as work:
        paydesk_db = work / "paydesk.db"
        proc.migrate(paydesk_db, work)
        # Enough fresh payments for ~6,000 events/s at every level; each level takes its own slice.
        per_level = int(6000 * (duration + 1) / 3)
        saturation = int(6000 * (saturate_seconds + 1) / 3) if saturate_seconds else 0
        total = (
            per_level * len(levels)
            + int(OPEN_LOOP_RATE * (open_loop_seconds + 1) / 3)
            + saturation
            + 100
        )
        payments = seed_payments(paydesk_db, total)
        factory = EventFactory()
        try:
            paydesk = procs.add(await proc.start_paydesk(paydesk_db, work))
            reference = procs.add(await proc.start_reference(work / "reference.db", work))
            # The reference first: paydesk keeps working after its runs (its mail sender drains
            # the receipts the events queued), which would otherwise land on the reference's figures.
            chunks = [payments[i * per_level : (i + 1) * per_level] for i in range(len(levels))]
            rest = payments[len(levels) * per_level : len(payments) - saturation]
            for target in (reference, paydesk):
                for level, chunk in zip(levels, chunks, strict=True):
                    feed = Feed(factory, chunk, target.port, seed=level)
                    cpu, other = proc.CpuMeter(target.pid), proc.OtherLoad(target.pid)
                    wal = WalMeter(paydesk_db)
                    outcome = await closed_loop(
                        target.port, feed, concurrency=level, duration=duration
                    )
                    rows.append(
                        _row(target.name, f"c={level}", outcome, cpu.share(), other.cores())
                        | (await wal.stop() if target is paydesk else {})
                    )
                    _progress(rows[-1])
                feed = Feed(factory, rest, target.port, seed=99)
                cpu, other = proc.CpuMeter(target.pid), proc.OtherLoad(target.pid)
                wal = WalMeter(paydesk_db)
                outcome = await open_loop(
                    target.port, feed, rate=OPEN_LOOP_RATE, duration=open_loop_seconds
                )
                rows.append(
                    _row(
                        target.name,
                        f"{OPEN_LOOP_RATE:.0f}/s open",
                        outcome,
                        cpu.share(),
                        other.cores(),
                    )
                    | (await wal.stop() if target is paydesk else {})
                )
                _progress(rows[-1])
            if saturation:
                feed = Feed(factory, payments[-saturation:], paydesk.port, seed=64)
                cpu, other = proc.CpuMeter(paydesk.pid), proc.OtherLoad(paydesk.pid)
                wal = WalMeter(paydesk_db)
                outcome = await closed_loop(
                    paydesk.port, feed, concurrency=SATURATION_LEVEL, duration=saturate_seconds
                )
                rows.append(
                    _row(
                        paydesk.name,
                        f"c={SATURATION_LEVEL} {saturate_seconds:.0f} s",
                        outcome,
                        cpu.share(),
                        other.cores(),
                    )
                    | await wal.stop()
                )
                _progress(rows[-1])
        finally:
            procs.stop_all()
        stored = {"paydesk_stripe_events": count_rows(paydesk_db, "stripe_events"),
                  "paydesk_outbox_rows": count_rows(paydesk_db, "outbox"),
                  "reference_events": count_rows(work / "reference.db", "events")}  # fmt: skip
    ratios = {}
    for level in levels:
        mine = next(r for r in rows if r["target"] == "paydesk" and r["load"] == f"c={level}")
        ref = next(r for r in rows if r["target"] == "reference" and r["load"] == f"c={level}")
        ratios[f"c={level}"] = (
            round(mine["events/s"] / ref["events/s"], 2) if ref["events/s"] else None
        )
    return {"rows": rows, "ratio_paydesk_to_reference": ratios, "stored": stored,
            "duration_s": duration, "duplicate_share": DUPLICATE_SHARE}  # fmt: skip


async def run_backends(
    database_url: str,
    processes: tuple[int, ...] = (1, 2),
    duration: float = 8.0,
    levels: tuple[int, ...] = LEVELS,
    open_loop_seconds: float = 15.0,
) -> dict[str, Any]:
    """The same load against paydesk on SQLite (one process), then on PostgreSQL at
    `database_url` (a server: each target gets a scratch database on it) with each number of
    processes (`serve --workers N`, one port), in one run. Every target talks to one standalone
    sandbox, as workers must (the in-process sandbox would be one per worker)."""
    proc.raise_open_files()
    rows: list[dict[str, Any]] = []
    stored: dict[str, int] = {}
    per_level = int(6000 * (duration + 1) / 3)
    total = per_level * len(levels) + int(OPEN_LOOP_RATE * (open_loop_seconds + 1) / 3) + 100
    targets = [("sqlite", 1)] + [("postgresql", n) for n in processes]
    with proc.scratch("backends") as work:
        procs = proc.Processes()
        try:
            sandbox = procs.add(await proc.start_sandbox(work))
            stripe = {"STRIPE_API_BASE": sandbox.base, "STRIPE_SECRET_KEY": proc.STRIPE_TEST_KEY}
            for backend, count in targets:
                name = f"{backend} x{count}"
                async with contextlib.AsyncExitStack() as stack:
                    database = work / f"{backend}-{count}.db"
                    url = ""
                    if backend == "sqlite":
                        proc.migrate(database, work)
                        payments = seed_payments(database, total)
                    else:
                        url = await stack.enter_async_context(
                            postgres.scratch_database(database_url, work)
                        )
                        payments = await postgres.seed_payments(url, total)
                    args = ("serve", "--workers", str(count)) if count > 1 else ()
                    paydesk = await proc.start_paydesk(
                        database, work, database_url=url, args=args, name=name, **stripe
                    )
                    try:
                        rows += await _levels(name, paydesk, payments, levels, per_level, duration)
                        rest = payments[len(levels) * per_level :]
                        rows.append(await _open(name, paydesk, rest, open_loop_seconds))
                    finally:
                        paydesk.stop()
                    stored[name] = (
                        count_rows(database, "stripe_events")
                        if backend == "sqlite"
                        else await postgres.count_rows(url, "stripe_events")
                    )
        finally:
            procs.stop_all()
    return {"rows": rows, "stored_events": stored, "duration_s": duration,
            "duplicate_share": DUPLICATE_SHARE, "targets": [f"{b} x{n}" for b, n in targets]}  # fmt: skip


async def _levels(
    name: str,
    paydesk: proc.Process,
    payments: list[Any],
    levels: tuple[int, ...],
    per_level: int,
    duration: float,
) -> list[dict[str, Any]]:
    rows = []
    for index, level in enumerate(levels):
        chunk = payments[index * per_level : (index + 1) * per_level]
        feed = Feed(EventFactory(), chunk, paydesk.port, seed=level)
        meters = _Meters(paydesk)
        outcome = await closed_loop(paydesk.port, feed, concurrency=level, duration=duration)
        rows.append(meters.row(name, f"c={level}", outcome))
        _progress(rows[-1])
    return rows


async def _open(
    name: str, paydesk: proc.Process, payments: list[Any], seconds: float
) -> dict[str, Any]:
    feed = Feed(EventFactory(), payments, paydesk.port, seed=99)
    meters = _Meters(paydesk)
    outcome = await open_loop(paydesk.port, feed, rate=OPEN_LOOP_RATE, duration=seconds)
    row = meters.row(name, f"{OPEN_LOOP_RATE:.0f}/s open", outcome)
    _progress(row)
    return row


class _Meters:
    """paydesk's CPU (all its processes), the database server's, and everyone else's."""

    def __init__(self, paydesk: proc.Process) -> None:
        self.cpu = proc.CpuMeter(paydesk.pid)
        self.db = postgres.ServerCpu()
        self.other = proc.OtherLoad(paydesk.pid, *postgres.server_pids())

    def row(self, name: str, load: str, outcome: Outcome) -> dict[str, Any]:
        db, cpu = self.db.cores(), self.cpu.share()
        row = _row(name, load, outcome, cpu, self.other.cores())
        # Answers of 200 per second: under overload, refusals (503) are answered fast too.
        ok_rate = row["ok"] / outcome.elapsed if outcome.elapsed else 0.0
        return row | {
            "ok/s": round(ok_rate, 1),
            "db cpu": round(db, 2),
            "cpu us/ok": round(cpu / ok_rate * 1e6) if ok_rate else None,
        }


def render_backends(result: dict[str, Any]) -> str:
    columns = [c for c in COLUMNS if not c.startswith("wal") and c != "cpu us/event"]
    columns.insert(columns.index("events/s") + 1, "ok/s")
    columns.insert(columns.index("cpu") + 1, "db cpu")
    columns.insert(columns.index("db cpu") + 1, "cpu us/ok")
    return "\n".join(
        [
            table(
                "Webhook ingestion by database and processes (cpu = paydesk cores, all its"
                " processes; db cpu = PostgreSQL server cores; other load = everything else)",
                result["rows"],
                columns,
            ),
            f"events stored: {result['stored_events']}",
        ]
    )


def _progress(row: dict[str, Any]) -> None:
    wal = (
        f"  wal peak {row['wal peak MB']} MB, end {row['wal end MB']} MB"
        if "wal peak MB" in row
        else ""
    )
    print(
        f"  {row['target']:<9} {row['load']:<10} {row['events/s']:>8,.0f}/s  p50 {row['p50 ms']:.2f} ms  p99 {row['p99 ms']:.2f} ms  {row['outcomes']}{wal}",
        flush=True,
    )


COLUMNS = (
    "target",
    "load",
    "events/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "ok",
    "not ok",
    "cpu",
    "cpu us/event",
    "other load",
    "wal peak MB",
    "wal end MB",
)


def render(result: dict[str, Any]) -> str:
    lines = [
        table(
            "Webhook ingestion (durable commits; cpu = server cores busy; other load = cores used by other programs)",
            result["rows"],
            COLUMNS,
        )
    ]
    lines.append(
        "paydesk / reference throughput: "
        + ", ".join(f"{k}: {v}x" for k, v in result["ratio_paydesk_to_reference"].items())
    )
    lines.append(f"rows stored: {result['stored']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per level")
    parser.add_argument(
        "--levels", type=lambda s: tuple(int(x) for x in s.split(",")), default=LEVELS
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="a PostgreSQL server (postgresql://user@host/db): compare paydesk on SQLite and on"
        " PostgreSQL (a scratch database there) instead of paydesk and the reference",
    )
    parser.add_argument(
        "--processes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=(1, 2),
        help="with --database-url: the numbers of paydesk processes to measure on PostgreSQL",
    )
    parser.add_argument(
        "--saturate",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then c=64 against paydesk alone for this long, e.g. 120 (WAL size under sustained load)",
    )
    args = parser.parse_args(argv)
    if args.database_url:
        result = asyncio.run(
            run_backends(args.database_url, args.processes, args.duration, args.levels)
        )
        result["machine"] = proc.machine()
        print(render_backends(result))
        print(f"saved {save('webhooks-backends', result)}")
        return result
    result = asyncio.run(run(args.duration, args.levels, saturate_seconds=args.saturate))
    result["machine"] = proc.machine()
    print(render(result))
    print(f"saved {save('webhooks', result)}")
    return result


if __name__ == "__main__":
    main()
