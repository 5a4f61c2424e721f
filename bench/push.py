"""Live status: push latency and memory per watcher with 1, 1,000 and 10,000 open sockets, then the
polling design it replaces (every watcher asking GET /api/payments/{id} every 2 s), side by side.

Push latency runs from sending the webhook that changes a payment to the frame arriving at the
watcher's socket, so it includes verifying the event and its durable commit. Memory per watcher is
paydesk's RSS at 10,000 idle sockets minus its RSS at none (after the same warm-up), divided.
Browser-like watchers offer permessage-deflate as Chrome and Firefox do; plain ones do not.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import time
from pathlib import Path
from typing import Any

from . import postgres, proc
from .events import EventFactory, Seeded, seed_payments, webhook_request
from .load import collector_paused
from .report import save, summary_ms, table
from .wire import HttpConnection, Watcher, request_bytes

LEVELS = (1, 1_000, 10_000)
CHANGE_RATE = 10.0  # status changes per second while measuring, for push and for polling alike
POLL_INTERVAL = 2.0
CONNECT_CONCURRENCY = 100  # below aiohttp's listen backlog of 128
# What paydesk sends on a quiet live socket (server/live.py): proof of life, not a push, so a
# heartbeat that lands between a webhook and its snapshot must not count as that snapshot.
HEARTBEAT_FRAME = b'{"type": "heartbeat"}'


class Changes:
    """Sends status-changing webhooks (charge.succeeded) for chosen payments at a steady rate."""

    def __init__(self, factory: EventFactory, port: int) -> None:
        self.factory = factory
        self.port = port
        self.sent_at: dict[str, float] = {}
        self.answered_at: dict[str, float] = {}
        self.webhook_latency: list[float] = []

    async def run(self, payments: list[Seeded], rate: float) -> None:
        conn = await HttpConnection.open(self.port)
        start = time.perf_counter()
        for i, payment in enumerate(payments):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            data = webhook_request(
                self.factory.body("charge.succeeded", payment), self.port, proc.WEBHOOK_SECRET
            )
            sent = time.perf_counter()
            self.sent_at[payment.payment_id] = sent
            status, body = await conn.request(data)
            self.answered_at[payment.payment_id] = time.perf_counter()
            self.webhook_latency.append(self.answered_at[payment.payment_id] - sent)
            if status != 200 or b'"applied"' not in body:
                raise RuntimeError(
                    f"webhook for {payment.payment_id} answered {status}: {body[:200]!r}"
                )
        conn.close()


class Watchers:
    """Open sockets on /payments/{id}/live, one per payment, and when their frames arrived."""

    def __init__(self, port: int, *, deflate: bool) -> None:
        self.port = port
        self.deflate = deflate
        self.open: dict[str, Watcher] = {}
        self.frames: dict[str, list[float]] = {}

    def _on_frame(self, watcher: Watcher, at: float, payload: bytes) -> None:
        if payload == HEARTBEAT_FRAME:
            return
        self.frames.setdefault(watcher.payment_id, []).append(at)

    async def connect(self, payments: list[Seeded]) -> float:
        """Connect a watcher to each payment and wait for its first snapshot; return seconds taken."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        start = time.perf_counter()

        async def one(payment: Seeded) -> None:
            async with gate:
                watcher = await Watcher.connect(
                    payment.payment_id, self.port, deflate=self.deflate, on_frame=self._on_frame
                )
                await asyncio.wait_for(watcher.first_frame, 30)
                self.open[payment.payment_id] = watcher

        await asyncio.gather(*(one(p) for p in payments))
        return time.perf_counter() - start

    def close(self, payment_ids: list[str] | None = None) -> None:
        for pid in list(self.open) if payment_ids is None else payment_ids:
            watcher = self.open.pop(pid, None)
            if watcher is not None:
                watcher.close()

    def alive(self) -> int:
        return sum(1 for w in self.open.values() if not w.closed)


async def _settled_rss(server: proc.Process, seconds: float = 3.0) -> int:
    await asyncio.sleep(seconds)
    return server.rss_kb()


async def _push_samples(
    server: proc.Process,
    watchers: Watchers,
    factory: EventFactory,
    targets: list[Seeded],
    writer: proc.Process | None = None,
) -> dict[str, Any]:
    """Change each target payment once, at CHANGE_RATE, and time the frame each change causes.
    The webhooks go to `writer` when given (another process on the same database)."""
    changes = Changes(factory, (writer or server).port)
    before = {p.payment_id: len(watchers.frames.get(p.payment_id, [])) for p in targets}
    cpu = proc.CpuMeter(server.pid)
    # Across processes, the writer and the database are part of what is measured, not other load.
    ours = (writer.pid, *postgres.server_pids()) if writer else ()
    other = proc.OtherLoad(server.pid, *ours)
    with collector_paused():
        await changes.run(targets, CHANGE_RATE)
        await asyncio.sleep(0.5)
    cpu_share, other_cores = cpu.share(), other.cores()
    latencies, after_answer, missing = [], [], 0
    for p in targets:
        arrived = watchers.frames.get(p.payment_id, [])[before[p.payment_id] :]
        if arrived:
            latencies.append(arrived[0] - changes.sent_at[p.payment_id])
            # Negative when the frame came first: the process that applied it pushes, then answers.
            after_answer.append(arrived[0] - changes.answered_at[p.payment_id])
        else:
            missing += 1
    return {"push": summary_ms(latencies), "webhook": summary_ms(changes.webhook_latency), "missing": missing,
            "after_answer": summary_ms(after_answer),
            "cpu": round(cpu_share, 3), "other_load": round(other_cores, 2)}  # fmt: skip


async def _idle_cpu(server: proc.Process, seconds: float) -> float:
    cpu = proc.CpuMeter(server.pid)
    await asyncio.sleep(seconds)
    return round(cpu.share(), 4)


async def _warm_up(
    server: proc.Process, factory: EventFactory, spare: list[Seeded], deflate: bool
) -> None:
    """Load what the first socket and the first push load, so RSS at none is a fair baseline."""
    watchers = Watchers(server.port, deflate=deflate)
    await watchers.connect(spare[:20])
    changes = Changes(factory, server.port)
    await changes.run(spare[:20], 100)
    watchers.close()
    await asyncio.sleep(1)


async def watch_pass(
    template_db: Path,
    work: Path,
    payments: list[Seeded],
    *,
    deflate: bool,
    samples: int,
    levels: tuple[int, ...],
) -> dict[str, Any]:
    """One fresh paydesk: RSS at no watchers, then at each level: connect, idle CPU, push latency."""
    db = work / f"live-{'deflate' if deflate else 'plain'}.db"
    shutil.copy(template_db, db)
    factory = EventFactory()
    procs = proc.Processes()
    rows: list[dict[str, Any]] = []
    rng = random.Random(7)
    max_level = max(levels)
    watched, spare = payments[:max_level], payments[max_level:]
    try:
        server = procs.add(
            await proc.start_paydesk(db, work, LIVE_MAX_CONNECTIONS=str(max_level + 1000))
        )
        await _warm_up(server, factory, spare, deflate)
        spare = spare[20:]
        rss_none = await _settled_rss(server)
        watchers = Watchers(server.port, deflate=deflate)
        pushed: set[str] = set()
        for level in levels:
            if level == 1:
                # One socket at a time: each sample watches a fresh payment, alone.
                latencies, hooks = [], []
                cpu, other = proc.CpuMeter(server.pid), proc.OtherLoad(server.pid)
                for payment in spare[: min(samples, 100)]:
                    await watchers.connect([payment])
                    result = await _push_samples(server, watchers, factory, [payment])
                    latencies.append(result["push"]["max_ms"] / 1000)
                    hooks.append(result["webhook"]["max_ms"] / 1000)
                    watchers.close([payment.payment_id])
                    await asyncio.sleep(max(0.0, 1 / CHANGE_RATE - 0.01))
                spare = spare[min(samples, 100) :]
                result = {"push": summary_ms(latencies), "webhook": summary_ms(hooks), "missing": 0,
                          "cpu": round(cpu.share(), 3), "other_load": round(other.cores(), 2)}  # fmt: skip
                rows.append(
                    {"watchers": 1, "connect_s": None, "rss_kb": None, "idle_cpu": None, **result}
                )
                continue
            connect_s = await watchers.connect(
                [p for p in watched[:level] if p.payment_id not in watchers.open]
            )
            rss = await _settled_rss(server)
            idle = await _idle_cpu(server, 5.0)
            candidates = [p for p in watched[:level] if p.payment_id not in pushed]
            targets = rng.sample(candidates, min(samples, len(candidates)))
            pushed.update(p.payment_id for p in targets)
            result = await _push_samples(server, watchers, factory, targets)
            rows.append({"watchers": level, "connect_s": round(connect_s, 1), "rss_kb": rss, "idle_cpu": idle,
                         "alive": watchers.alive(), **result})  # fmt: skip
            print(f"  {'browser-like' if deflate else 'plain':<12} {level:>6} watchers: push p50 {result['push']['p50_ms']:.2f} ms, "
                  f"p99 {result['push']['p99_ms']:.2f} ms, RSS {rss / 1024:.0f} MiB", flush=True)  # fmt: skip
        watchers.close()
    finally:
        procs.stop_all()
    top = next(r for r in rows if r["watchers"] == max_level)
    per_watcher = (top["rss_kb"] - rss_none) * 1024 / max_level / 1000
    return {
        "deflate": deflate,
        "rss_none_kb": rss_none,
        "rows": rows,
        "kb_per_watcher": round(per_watcher, 2),
    }


# -- polling --------------------------------------------------------------------------------------


async def poll_pass(
    template_db: Path,
    work: Path,
    payments: list[Seeded],
    *,
    level: int,
    seconds: float,
    samples: int,
) -> dict[str, Any]:
    """`level` pollers, each on its own keep-alive connection, GET the JSON status every 2 s; status
    changes go out at CHANGE_RATE; staleness is when a poller first sees the change minus when
    the webhook was sent."""
    db = work / f"poll-{level}.db"
    shutil.copy(template_db, db)
    factory = EventFactory()
    procs = proc.Processes()
    polled = payments[:level]
    seen: dict[str, float] = {}
    latencies: list[float] = []
    stats = {"requests": 0, "errors": 0, "late": 0}
    try:
        server = procs.add(await proc.start_paydesk(db, work))
        start = time.perf_counter()
        measure_from = start + POLL_INTERVAL * 2  # every poller has made its first request
        # Long enough for the last change to be seen by a poller that keeps up.
        stop_at = measure_from + max(seconds, samples / CHANGE_RATE + 2 * POLL_INTERVAL + 1)
        rng = random.Random(level)
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def poller(payment: Seeded) -> None:
            async with gate:
                conn = await HttpConnection.open(server.port)
            data = request_bytes(
                "GET",
                f"/api/payments/{payment.payment_id}",
                server.port,
                headers={"Accept": "application/json"},
            )
            due = start + rng.uniform(0, POLL_INTERVAL)
            while True:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.1:
                    stats["late"] += 1 if due >= measure_from else 0
                if due >= stop_at:
                    break
                sent = time.perf_counter()
                try:
                    status, body = await conn.request(data)
                except Exception:
                    stats["errors"] += 1
                    break
                done = time.perf_counter()
                if measure_from <= sent < stop_at:
                    stats["requests"] += 1
                    latencies.append(done - sent)
                if (
                    status == 200
                    and b'"status": "succeeded"' in body
                    and payment.payment_id not in seen
                ):
                    seen[payment.payment_id] = done
                # The page polls on a timer: the next poll is due 2 s after this one was due, or now.
                due = max(due + POLL_INTERVAL, time.perf_counter())
            conn.close()

        tasks = [asyncio.create_task(poller(p)) for p in polled]
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu, other = proc.CpuMeter(server.pid), proc.OtherLoad(server.pid)
        changes = Changes(factory, server.port)
        targets = random.Random(3).sample(polled, min(samples, len(polled)))
        with collector_paused():
            await changes.run(targets, CHANGE_RATE)
            await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        cpu_share, other_cores = cpu.share(), other.cores()
        elapsed = time.perf_counter() - measure_from
        await asyncio.gather(*tasks)
    finally:
        procs.stop_all()
    staleness = [
        seen[p.payment_id] - changes.sent_at[p.payment_id] for p in targets if p.payment_id in seen
    ]
    return {
        "watchers": level,
        "requests_per_s": round(stats["requests"] / elapsed, 1),
        "demand_per_s": level / POLL_INTERVAL,
        "response": summary_ms(latencies),
        "staleness": summary_ms(staleness),
        "never_saw_change": len(targets) - len(staleness),
        "cpu": round(cpu_share, 3),
        "other_load": round(other_cores, 2),
        "late_polls": stats["late"],
        "errors": stats["errors"],
    }


async def run(
    levels: tuple[int, ...] = LEVELS, samples: int = 200, poll_seconds: float = 20.0
) -> dict[str, Any]:
    proc.raise_open_files()
    max_level = max(levels)
    with proc.scratch("push") as work:
        template = work / "seeded.db"
        proc.migrate(template, work)
        payments = seed_payments(template, max_level + 2 * samples + 100)
        browser = await watch_pass(
            template, work, payments, deflate=True, samples=samples, levels=levels
        )
        # Plain watchers differ only in memory: measured at the top level alone.
        plain = await watch_pass(
            template, work, payments, deflate=False, samples=samples, levels=(max_level,)
        )
        polling = []
        for level in levels:
            if level < 1000:
                continue
            polling.append(
                await poll_pass(
                    template, work, payments, level=level, seconds=poll_seconds, samples=samples
                )
            )
            print(f"  polling {level:>6}: {polling[-1]['requests_per_s']:,.0f} req/s, cpu {polling[-1]['cpu']:.2f}, "
                  f"staleness mean {polling[-1]['staleness']['mean_ms']:.0f} ms p99 {polling[-1]['staleness']['p99_ms']:.0f} ms", flush=True)  # fmt: skip
    return {"browser_like": browser, "plain": plain, "polling": polling, "change_rate": CHANGE_RATE,
            "poll_interval_s": POLL_INTERVAL, "samples": samples}  # fmt: skip


# -- across processes (PostgreSQL) ------------------------------------------------------------


async def cross_process(
    database_url: str, levels: tuple[int, ...] = (1, 1_000), samples: int = 200
) -> dict[str, Any]:
    """Two paydesk processes on one PostgreSQL database (a scratch one on the server at
    `database_url`): watchers on A; each status change sent as a webhook to A itself, then to B,
    so the frame reaches A through PostgreSQL's NOTIFY and A's change feed."""
    proc.raise_open_files()
    max_level = max(levels)
    rows: list[dict[str, Any]] = []
    with proc.scratch("push-pg") as work:
        async with postgres.scratch_database(database_url, work) as url:
            payments = await postgres.seed_payments(url, max_level + 4 * samples + 200)
            procs = proc.Processes()
            try:
                limit = {"LIVE_MAX_CONNECTIONS": str(max_level + 1000)}
                a = procs.add(
                    await proc.start_paydesk(work / "a", work, database_url=url, name="a", **limit)
                )
                b = procs.add(await proc.start_paydesk(work / "b", work, database_url=url, name="b", **limit))  # fmt: skip
                factory = EventFactory()
                await _warm_up(a, factory, payments[-20:], False)
                spare = payments[max_level:-20]
                watchers = Watchers(a.port, deflate=False)
                for level in levels:
                    for via, writer in (("same process", a), ("other process", b)):
                        if level == 1:
                            latencies, hooks, after = [], [], []
                            for payment in spare[: min(samples, 100)]:
                                await watchers.connect([payment])
                                one = await _push_samples(a, watchers, factory, [payment], writer)
                                latencies.append(one["push"]["max_ms"] / 1000)
                                hooks.append(one["webhook"]["max_ms"] / 1000)
                                after.append(one["after_answer"]["max_ms"] / 1000)
                                watchers.close([payment.payment_id])
                            spare = spare[min(samples, 100) :]
                            result = {"push": summary_ms(latencies), "webhook": summary_ms(hooks),
                                      "after_answer": summary_ms(after), "missing": 0}  # fmt: skip
                        else:
                            await watchers.connect(
                                [p for p in payments[:level] if p.payment_id not in watchers.open]
                            )
                            targets, spare = spare[:samples], spare[samples:]  # fmt: skip
                            # The watched payments change: one watcher each, newly connected.
                            await watchers.connect(targets)
                            result = await _push_samples(a, watchers, factory, targets, writer)
                            watchers.close([t.payment_id for t in targets])
                        rows.append({"watchers": level, "webhook to": via, **result})
                        print(f"  {level:>6} watchers, webhook to the {via}: push p50 {result['push']['p50_ms']:.2f} ms, "
                              f"p99 {result['push']['p99_ms']:.2f} ms, missing {result['missing']}", flush=True)  # fmt: skip
                watchers.close()
            finally:
                procs.stop_all()
    return {"rows": rows, "change_rate": CHANGE_RATE, "samples": samples}


def render_cross(result: dict[str, Any]) -> str:
    rows = [
        {"watchers": r["watchers"], "webhook to": r["webhook to"], "push p50 ms": r["push"]["p50_ms"],
         "push p99 ms": r["push"]["p99_ms"], "push max ms": r["push"]["max_ms"],
         "webhook p50 ms": r["webhook"]["p50_ms"], "webhook p99 ms": r["webhook"]["p99_ms"],
         "after answer p50 ms": r["after_answer"]["p50_ms"],
         "after answer p99 ms": r["after_answer"]["p99_ms"], "missing": r["missing"]}
        for r in result["rows"]
    ]  # fmt: skip
    return table(
        "Push on PostgreSQL, watchers on process A (webhook to A, or to B: then via NOTIFY)",
        rows,
        list(rows[0]),
    )


def render(result: dict[str, Any]) -> str:
    out = []
    for name in ("browser_like", "plain"):
        part = result[name]
        rows = [
            {"watchers": r["watchers"], "push p50 ms": r["push"]["p50_ms"], "push p99 ms": r["push"]["p99_ms"],
             "push max ms": r["push"]["max_ms"], "webhook p99 ms": r["webhook"]["p99_ms"],
             "RSS MiB": r["rss_kb"] / 1024 if r["rss_kb"] else float("nan"),
             "idle cpu": r["idle_cpu"] if r["idle_cpu"] is not None else float("nan"),
             "cpu": r["cpu"], "missing": r["missing"], "other load": r["other_load"]}
            for r in part["rows"]
        ]  # fmt: skip
        title = (f"Push, {'browser-like watchers (permessage-deflate offered)' if part['deflate'] else 'plain watchers (no compression)'}: "
                 f"RSS at none {part['rss_none_kb'] / 1024:.0f} MiB, {part['kb_per_watcher']:.1f} KB per idle watcher")  # fmt: skip
        out.append(table(title, rows, list(rows[0])))
    push_rows = {r["watchers"]: r for r in result["browser_like"]["rows"]}
    rows = []
    for poll in result["polling"]:
        push = push_rows.get(poll["watchers"])
        rows.append({"watchers": poll["watchers"], "design": "polling 2 s", "req/s": poll["requests_per_s"],
                     "cpu": poll["cpu"], "stale mean ms": poll["staleness"]["mean_ms"], "stale p99 ms": poll["staleness"]["p99_ms"],
                     "resp p99 ms": poll["response"]["p99_ms"], "never saw": poll["never_saw_change"],
                     "other load": poll["other_load"]})  # fmt: skip
        if push:
            rows.append({"watchers": poll["watchers"], "design": "push", "req/s": result["change_rate"],
                         "cpu": push["cpu"], "stale mean ms": push["push"]["mean_ms"], "stale p99 ms": push["push"]["p99_ms"],
                         "resp p99 ms": push["webhook"]["p99_ms"], "never saw": push["missing"],
                         "other load": push["other_load"]})  # fmt: skip
    if rows:
        out.append(
            table(
                f"Push vs polling ({result['change_rate']:.0f} status changes/s; push req/s = webhooks; cpu = paydesk cores)",
                rows,
                list(rows[0]),
            )
        )
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench push")
    parser.add_argument(
        "--levels", type=lambda s: tuple(int(x) for x in s.split(",")), default=LEVELS
    )
    parser.add_argument("--samples", type=int, default=200, help="status changes timed per level")
    parser.add_argument("--poll-seconds", type=float, default=20.0)
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="a PostgreSQL server (postgresql://user@host/db): push across two processes on a"
        " scratch database there (levels 1,1000 unless --levels says otherwise)",
    )
    args = parser.parse_args(argv)
    if args.database_url:
        levels = args.levels if args.levels != LEVELS else (1, 1_000)
        result = asyncio.run(cross_process(args.database_url, levels, args.samples))
        result["machine"] = proc.machine()
        print(render_cross(result))
        print(f"saved {save('push-postgresql', result)}")
        return result
    result = asyncio.run(run(args.levels, args.samples, args.poll_seconds))
    result["machine"] = proc.machine()
    print(render(result))
    print(f"saved {save('push', result)}")
    return result


if __name__ == "__main__":
    main()
