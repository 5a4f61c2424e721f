"""Mail: how fast paydesk drains its outbox to an SMTP server on loopback after a burst of payments.

A burst of webhooks marks N seeded payments paid; each queues a receipt (and, with ADMIN_EMAIL, an
operator notice) in the outbox in the same transaction. An aiosmtpd server on 127.0.0.1 accepts
every message and notes when it arrived; the drain rate is messages over the time from the first
to the last arrival, and the outbox is read afterwards for what is still pending.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from . import proc
from .events import EventFactory, seed_payments, webhook_request
from .load import closed_loop
from .report import save, table

APP_PY = proc.PAYDESK_ROOT / "server" / "app.py"


class Inbox:
    """The SMTP server's side: every message accepted, with when it arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.recipients = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.arrivals.append(time.perf_counter())
            self.recipients += len(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def mail_wired() -> bool:
    """Whether this build's app starts the mail sender (its cleanup context is in server/app.py)."""
    text = APP_PY.read_text()
    return "mail_sender_ctx" in text or "mail_sender_context" in text


def outbox_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    finally:
        conn.close()


async def run(payments: int = 1000, wait: float = 90.0) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    proc.raise_open_files()
    inbox = Inbox()
    smtp_port = proc.free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    procs = proc.Processes()
    try:
        with proc.scratch("mail") as work:
            db = work / "mail.db"
            proc.migrate(db, work)
            seeded = seed_payments(db, payments)
            server = procs.add(await proc.start_paydesk(
                db, work, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none",
                MAIL_FROM="Harbour Yoga <pay@harbour-yoga.example>", ADMIN_EMAIL="owner@harbour-yoga.example"))  # fmt: skip
            factory = EventFactory()
            bodies = iter([factory.body("checkout.session.completed", p) for p in seeded])

            def next_webhook() -> bytes | None:
                body = next(bodies, None)
                return (
                    None
                    if body is None
                    else webhook_request(body, server.port, proc.WEBHOOK_SECRET)
                )

            cpu = proc.CpuMeter(server.pid)
            started = time.perf_counter()
            fill = await closed_loop(
                server.port, next_webhook, concurrency=16, duration=60, warmup=0
            )
            filled = time.perf_counter()
            queued = sum(outbox_counts(db).values())
            deadline = filled + wait
            last_count, last_change = -1, time.perf_counter()
            while time.perf_counter() < deadline:
                await asyncio.sleep(0.5)
                count = len(inbox.arrivals)
                if count != last_count:
                    last_count, last_change = count, time.perf_counter()
                if count >= queued or time.perf_counter() - last_change > 15:
                    break  # all delivered, or nothing more arriving
            cpu_share = cpu.share()
            counts = outbox_counts(db)
    finally:
        procs.stop_all()
        controller.stop()
    arrivals = sorted(inbox.arrivals)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return {
        "wired": mail_wired(),
        "payments": payments,
        "webhooks_acknowledged": fill.statuses.get(200, 0),
        "fill_seconds": round(filled - started, 2),
        "outbox_rows": queued,
        "messages_received": len(arrivals),
        "recipients": inbox.recipients,
        "drain_per_s": round((len(arrivals) - 1) / span, 1) if span else None,
        "first_after_fill_start_s": round(arrivals[0] - started, 2) if arrivals else None,
        "all_sent_after_fill_s": round(arrivals[-1] - filled, 2)
        if arrivals and len(arrivals) >= queued
        else None,
        "outbox_after": counts,
        "paydesk_cpu": round(cpu_share, 2),
    }


def render(result: dict[str, Any]) -> str:
    rows = [
        {"figure": k, "value": "-" if v is None else v}
        for k, v in result.items()
        if k not in ("outbox_after", "machine")
    ]
    rows.append(
        {
            "figure": "outbox_after",
            "value": ", ".join(f"{k} {v}" for k, v in result["outbox_after"].items()),
        }
    )
    text = table(
        "Mail: outbox drain to a local SMTP server (aiosmtpd on 127.0.0.1)",
        rows,
        ("figure", "value"),
    )
    if not result["wired"]:
        text += (
            "\nThe mail sender is not started by server/app.py in this build: nothing is sent yet."
        )
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench mail")
    parser.add_argument(
        "--payments", type=int, default=1000, help="payments in the burst (each queues mail)"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.payments))
    result["machine"] = proc.machine()
    print(render(result))
    print(f"saved {save('mail', result)}")
    return result


if __name__ == "__main__":
    main()
