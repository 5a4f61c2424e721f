"""Notifications survive SIGKILL: paydesk killed mid-delivery sends every one after its restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from tests import lifecycle_events as flows
from tests.conftest import PROJECT_ROOT, free_port, wait_until_ok
from tests.stripe_signing import event_body, sign
from tests.test_notify import SECRET, Receiver, renamed

WEBHOOK_SECRET = "whsec_notify_kill_test"


@contextmanager
def paydesk(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "run.py"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def seed(database: Path, payment_id: str, session_id: str) -> None:
    stamp = int(time.time() * 1000)
    with sqlite3.connect(database) as conn:
        conn.execute(
            "INSERT INTO payments (id, request_key, product_id, product_name, quantity, unit_amount,"
            " amount, currency, customer_name, customer_email, status, checkout_session_id,"
            " created_at, updated_at) VALUES (?, ?, 'support-the-studio', 'Support the studio', 1,"
            " ?, ?, 'eur', 'Ada Lovelace', 'ada@example.com', 'pending', ?, ?, ?)",
            (
                payment_id,
                f"seed:{payment_id}",
                flows.AMOUNT,
                flows.AMOUNT,
                session_id,
                stamp,
                stamp,
            ),
        )


async def send(base: str, events: list[dict[str, Any]]) -> None:
    async with ClientSession() as session:
        for event in events:
            body = event_body(event)
            headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET)}
            async with session.post(f"{base}/webhooks/stripe", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()


async def test_sigkill_mid_delivery_loses_no_notification(tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.hold = asyncio.Event()  # the first delivery hangs until paydesk is dead
    await receiver.start()
    port = free_port()
    database = tmp_path / "paydesk.db"
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{database}",
        "MAIL_DIR": str(tmp_path / "mail"),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "RECONCILE_INTERVAL": "0",
        "NOTIFY_URLS": receiver.url,
        "NOTIFY_SECRET": SECRET,
        "NOTIFY_RETRY_BASE": "0.2",
    }
    base = f"http://127.0.0.1:{port}"
    expected = {
        f"{flows.PAYMENT_ID}_a": ["payment.succeeded", "payment.refunded", "payment.refunded"],
        f"{flows.PAYMENT_ID}_b": [
            "payment.succeeded",
            "payment.disputed",
            "payment.dispute_closed",
        ],
    }
    try:
        with paydesk(env) as first:
            await wait_until_ok(f"{base}/healthz")
            for tag, flow in (("a", flows.partial_then_full_refund), ("b", flows.dispute_won)):
                seed(database, f"{flows.PAYMENT_ID}_{tag}", f"{flows.SESSION_ID}_{tag}")
                await send(base, renamed(flow(flows.Stripe("hand-built")), tag))
            await receiver.wait_for_arrivals(1)  # a delivery is on the wire, unanswered
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        hold, receiver.hold = receiver.hold, None
        hold.set()  # the receiver acts on what it got; paydesk never heard the answer
        with sqlite3.connect(database) as conn:
            queued = conn.execute("SELECT count(*) FROM notifications").fetchone()[0]
        assert queued == 6  # every change was committed with its notification
        with paydesk(env):
            await wait_until_ok(f"{base}/healthz")
            accepted = await receiver.wait_for(6, timeout=60)
        assert {
            pid: [n["type"] for n in accepted if n["payment"]["id"] == pid] for pid in expected
        } == expected
        assert len({n["id"] for n in receiver.arrivals}) == 6
        assert receiver.refused == 0
    finally:
        await receiver.stop()
