"""`python -m bench [all|webhooks|push|checkout|mail|churn|faults] [--quick]`: run the load tools, print
tables, write JSON to bench/results/, and (for `all`) a summary of every figure against its target."""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from typing import Any

from . import checkout, churn, faults, mail, proc, push, webhooks
from .report import save, table

QUIET_CORES = 0.3  # other programs' CPU below which the machine counts as quiet


def wait_for_quiet(limit: float) -> float:
    """Wait up to `limit` seconds for other programs to leave the cores alone; return their load."""
    deadline = time.monotonic() + limit
    while True:
        meter = proc.OtherLoad()
        time.sleep(2)
        load = meter.cores()
        if load < QUIET_CORES or time.monotonic() >= deadline:
            return round(load, 2)
        print(f"  other programs use {load:.2f} cores; waiting for a quieter machine", flush=True)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure with a goal, beside its goal."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, value: float | None, goal: str, met: bool | None) -> None:
        rows.append({"figure": figure, "measured": math.nan if value is None else value, "target": goal,
                     "met": "-" if met is None else ("yes" if met else "NO")})  # fmt: skip

    hooks = results.get("webhooks")
    if hooks:
        paydesk_rows = [
            r for r in hooks["rows"] if r["target"] == "paydesk" and r["load"].startswith("c=")
        ]
        best = max(paydesk_rows, key=lambda r: r["events/s"])
        add(
            f"webhooks/s, best closed-loop level ({best['load']})",
            best["events/s"],
            ">= 3,000",
            best["events/s"] >= 3000,
        )
        for level, ratio in hooks["ratio_paydesk_to_reference"].items():
            add(
                f"paydesk / reference throughput, {level}",
                ratio,
                ">= 0.8",
                ratio is not None and ratio >= 0.8,
            )
        open_row = next(
            r for r in hooks["rows"] if r["target"] == "paydesk" and "open" in r["load"]
        )
        add(
            f"webhook p99 ms at {open_row['load']}",
            open_row["p99 ms"],
            "<= 50",
            open_row["p99 ms"] <= 50,
        )
    live = results.get("push")
    if live:
        top = max(live["browser_like"]["rows"], key=lambda r: r["watchers"])
        add(
            f"push p99 ms, {top['watchers']:,} browser-like watchers",
            top["push"]["p99_ms"],
            "<= 10",
            top["push"]["p99_ms"] <= 10,
        )
        top_plain = max(live["plain"]["rows"], key=lambda r: r["watchers"])
        add(
            f"push p99 ms, {top_plain['watchers']:,} plain watchers",
            top_plain["push"]["p99_ms"],
            "<= 10",
            top_plain["push"]["p99_ms"] <= 10,
        )
        for name in ("browser_like", "plain"):
            kb = live[name]["kb_per_watcher"]
            add(f"KB per idle watcher, {name.replace('_', '-')}", kb, "<= 25", kb <= 25)
    co = results.get("checkout")
    if co:
        alone, loaded = co["slow_stripe"]
        add(
            "webhook p99 ms at 1,000/s, Stripe slow, no checkouts",
            alone["webhook p99 ms"],
            "<= 50",
            alone["webhook p99 ms"] <= 50,
        )
        unchanged = loaded["webhook p99 ms"] <= max(
            alone["webhook p99 ms"] * 1.2, alone["webhook p99 ms"] + 5
        )
        add(
            "webhook p99 ms, same, with 200 checkouts waiting",
            loaded["webhook p99 ms"],
            "unchanged (within 20 % or 5 ms)",
            unchanged,
        )
        for row in co["throughput"]:
            add(f"checkouts/s, {row['stripe']}", row["checkouts/s"], "(no target)", None)
    dropped = results.get("churn")
    if dropped:
        add(
            f"RSS after {dropped['per_round'] * dropped['rounds']:,} dropped sockets, vs start",
            dropped["growth_end"],
            "<= +0.2",
            dropped["growth_end"] <= 0.2,
        )
    m = results.get("mail")
    if m:
        add("mail drained per second", m["drain_per_s"], "(no target)", None)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, add_help=False)
    parser.add_argument("-h", "--help", action="store_true", help="this help, or a benchmark's own")
    parser.add_argument(
        "which",
        nargs="?",
        default="all",
        choices=("all", "webhooks", "push", "checkout", "mail", "churn", "faults"),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short phases and 1,000 watchers at most: a smoke run, not figures",
    )
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each benchmark, wait up to this long for other programs to go quiet")  # fmt: skip
    args, rest = parser.parse_known_args()
    proc.raise_open_files()
    if args.which != "all" and not args.quick:
        # One benchmark with its own options: python -m bench webhooks --duration 5
        if args.wait_quiet:
            wait_for_quiet(args.wait_quiet)
        module = {
            "webhooks": webhooks,
            "push": push,
            "checkout": checkout,
            "mail": mail,
            "churn": churn,
            "faults": faults,
        }[args.which]
        module.main([*rest, "--help"] if args.help else rest)
        return
    if args.help:
        parser.print_help()
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    machine = proc.machine()
    print(f"machine: {machine}", flush=True)
    chosen = (
        ("webhooks", "push", "checkout", "mail", "churn") if args.which == "all" else (args.which,)
    )
    results: dict[str, Any] = {}
    for name in chosen:
        quiet = wait_for_quiet(args.wait_quiet) if args.wait_quiet else None
        print(f"\n== {name} ==", flush=True)
        if name == "webhooks":
            result = asyncio.run(
                webhooks.run(
                    duration=3 if args.quick else 8, open_loop_seconds=5 if args.quick else 15
                )
            )
            text = webhooks.render(result)
        elif name == "push":
            levels = (1, 1000) if args.quick else push.LEVELS
            result = asyncio.run(
                push.run(
                    levels, samples=30 if args.quick else 200, poll_seconds=6 if args.quick else 20
                )
            )
            text = push.render(result)
        elif name == "checkout":
            result = asyncio.run(checkout.run(4 if args.quick else 10))
            text = checkout.render(result)
        elif name == "faults":
            result = asyncio.run(faults.run(40 if args.quick else 500, 1 if args.quick else 3))
            text = faults.render(result)
        elif name == "churn":
            result = churn.run(1000 if args.quick else 5000, 2 if args.quick else 8)
            text = churn.render(result)
        else:
            result = asyncio.run(mail.run(300 if args.quick else 1000))
            text = mail.render(result)
        result["machine"] = machine
        result["other_load_before"] = quiet
        results[name] = result
        print(text, flush=True)
        print(f"saved {save(name, result)}", flush=True)
    summary = targets(results)
    print("\n" + table("Figures against targets", summary, ("figure", "measured", "target", "met")))
    if args.which == "all":
        print(
            f"saved {save('summary', {'targets': summary, 'machine': machine, 'quick': args.quick})}"
        )


if __name__ == "__main__":
    main()
