"""Several paydesk processes on one PostgreSQL database: a change applied by one is pushed by the
others, each mail goes out once, and `serve --workers N` starts, serves, restarts and stops."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientSession

from server.change_feed import APPLICATION_NAME
from tests import lifecycle_events as flows
from tests.conftest import PROJECT_ROOT, free_port, wait_until_ok
from tests.live import next_snapshot, wait_for_status
from tests.smtp_server import SmtpServer
from tests.standalone import SECRET_KEY, standalone_sandbox
from tests.stripe_signing import event_body, sign

WHSEC = "whsec_processes_0123456789abcdef"
pytestmark = pytest.mark.timeout(180)


class Paydesk:
    """One paydesk process (`python run.py [args]`) with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        # Nothing from the developer's own environment: the test's settings only.
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("STRIPE_", "SMTP_")) and k not in ("DATABASE_URL", "MAIL_DIR")
        }
        self.base = f"http://127.0.0.1:{env['PORT']}"
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "run.py", *args],
            cwd=PROJECT_ROOT,
            env={**inherited, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    async def up(self) -> None:
        await wait_until_ok(self.base + "/healthz", timeout=60)

    async def wait_for_line(self, text: str, *, times: int = 1, timeout: float = 30) -> None:
        """Until `text` was written `times` times."""
        async with asyncio.timeout(timeout):
            while self.log.read_text().count(text) < times:
                await asyncio.sleep(0.1)

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str]:
        """Stop it as Ctrl+C (or systemd) does; its exit status and everything it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._out.close()
        return self.process.returncode, self.log.read_text()


@pytest.fixture
def sandbox() -> Iterator[str]:
    """One Stripe (the standalone sandbox) for every process, as one Stripe account would be."""
    with standalone_sandbox() as url:
        yield url


@pytest.fixture
def shared_env(backend: str, app_env: dict[str, str], sandbox: str) -> dict[str, str]:
    """Settings every process shares: the database, Stripe, and quiet logs."""
    return {
        **app_env,
        "STRIPE_API_BASE": sandbox,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WHSEC,
        "LOG_LEVEL": "WARNING",
        "RECONCILE_INTERVAL": "0",
    }


@contextmanager
def processes(env: dict[str, str], folder: Path, count: int) -> Iterator[list[Paydesk]]:
    """`count` paydesk processes on the shared settings, each on a port of its own; on leaving,
    each must stop cleanly and have answered no request with a 500."""
    started: list[Paydesk] = []
    try:
        for number in range(count):
            own = {**env, "PORT": str(free_port())}
            own["PUBLIC_URL"] = f"http://127.0.0.1:{own['PORT']}"
            started.append(Paydesk(own, folder / f"paydesk-{number}.log"))
        yield started
    finally:
        outcomes = [p.stop() for p in started]
        for code, log in outcomes:
            assert code == 0, log
            assert "unhandled error" not in log, log


async def seed(database_url: str, count: int) -> list[str]:
    """`count` payments whose customers reached Stripe Checkout; their ids."""
    ids = [f"pay_processes{n:06d}abcdefghijklm" for n in range(count)]
    stamp = int(time.time() * 1000)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO payments (id, request_key, product_id, product_name, quantity,"
            " unit_amount, amount, currency, customer_name, customer_email, status,"
            " checkout_session_id, payment_intent_id, expires_at, created_at, updated_at)"
            " VALUES ($1, $2, 'support-the-studio', 'Support the studio', 1, 2500, 2500, 'eur',"
            " 'Ada Lovelace', $3, 'pending', $4, $5, $6, $7, $7)",
            [
                (pid, f"seed:{pid}", f"ada{n}@example.com", f"cs_test_{n}", f"pi_{n}",
                 stamp + 3_600_000, stamp)
                for n, pid in enumerate(ids)
            ],
        )  # fmt: skip
    finally:
        await conn.close()
    return ids


def card_payment_events(payment_id: str, number: int) -> list[bytes]:
    """A paid card payment's events for one seeded payment, in Stripe's order: the charge (which
    says how the customer paid: the receipt waits for it), then checkout.session.completed."""
    stripe = flows.Stripe("hand-built")
    run = secrets.token_hex(6)
    bodies = []
    for event in (stripe.charge_succeeded(), stripe.completed("paid")):
        text = json.dumps(event)
        for ours, theirs in (
            (flows.PAYMENT_ID, payment_id),
            (flows.SESSION_ID, f"cs_test_{number}"),
            (flows.PI_ID, f"pi_{number}"),
            (flows.CHARGE_ID, f"ch_{number}"),
            ("evt_lifecycle_", f"evt_{run}_"),
        ):
            text = text.replace(ours, theirs)
        bodies.append(event_body(json.loads(text)))
    return bodies


def completed_event(payment_id: str, number: int) -> bytes:
    """checkout.session.completed, paid, for one seeded payment."""
    return card_payment_events(payment_id, number)[-1]


async def post_webhook(session: ClientSession, base: str, body: bytes) -> dict[str, Any]:
    """Deliver a signed event; anything but 200 fails the test."""
    headers = {"Stripe-Signature": sign(body, WHSEC), "Content-Type": "application/json"}
    async with session.post(base + "/webhooks/stripe", data=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        result: dict[str, Any] = await answer.json()
        return result


async def cut_listeners(database_url: str) -> int:
    """End every change feed's connection to this database, as a network fault would."""
    conn = await asyncpg.connect(database_url)
    try:
        cut: int = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
        return cut
    finally:
        await conn.close()


async def test_a_webhook_applied_by_one_process_is_pushed_to_a_page_on_the_other(
    shared_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    first, second = await seed(database_url, 2)
    with processes(shared_env, tmp_path, 2) as (a, b):
        await asyncio.gather(a.up(), b.up())
        async with ClientSession() as session:
            async with session.ws_connect(f"{a.base}/payments/{first}/live") as ws:
                assert (await next_snapshot(ws))["payment"]["status"] == "pending"
                await post_webhook(session, b.base, completed_event(first, 0))
                frame = await wait_for_status(ws, "succeeded", timeout=10)
                assert frame["version"] == 2
            # The listener's connections are cut; a change applied meanwhile still arrives.
            async with session.ws_connect(f"{a.base}/payments/{second}/live") as ws:
                assert (await next_snapshot(ws))["payment"]["status"] == "pending"
                assert await cut_listeners(database_url) == 2
                await post_webhook(session, b.base, completed_event(second, 1))
                await wait_for_status(ws, "succeeded", timeout=15)


async def test_a_burst_of_payments_on_two_processes_mails_each_message_once(
    shared_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    count = 200
    sink = SmtpServer()
    await sink.start()
    try:
        env = {
            **shared_env,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "Harbour Yoga <pay@harbour-yoga.example>",
            "ADMIN_EMAIL": "owner@harbour-yoga.example",
        }
        ids = await seed(database_url, count)
        # Every event is answered 200 at the first delivery, and each mail goes out once.
        with processes(env, tmp_path, 2) as (a, b):
            await asyncio.gather(a.up(), b.up())
            limit = asyncio.Semaphore(8)
            async with ClientSession() as session:

                async def send(number: int, payment_id: str) -> None:
                    async with limit:
                        for index, body in enumerate(card_payment_events(payment_id, number)):
                            # A payment's events go to either process, as a proxy spreads them.
                            target = (a, b)[(number + index) % 2]
                            await post_webhook(session, target.base, body)

                await asyncio.gather(*(send(n, pid) for n, pid in enumerate(ids)))
            queued = await wait_until_all_mail_is_sent(database_url)
            assert queued >= count  # a receipt each, at least
            await sink.wait_for(queued, timeout=30)
        ids_sent = Counter(m["Message-ID"] for m in sink.accepted)
        assert len(sink.accepted) == queued
        assert [mid for mid, seen in ids_sent.items() if seen > 1] == []
        receipts = Counter(tuple(r) for _, r in sink.envelopes)
        assert all(receipts[(f"ada{n}@example.com",)] == 1 for n in range(count))
    finally:
        await sink.stop()


async def wait_until_all_mail_is_sent(database_url: str, timeout: float = 60) -> int:
    """The number of messages queued, once none is waiting."""
    conn = await asyncpg.connect(database_url)
    try:
        states: dict[str, int] = {}
        try:
            async with asyncio.timeout(timeout):
                while True:
                    rows = await conn.fetch("SELECT status, count(*) FROM outbox GROUP BY status")
                    states = {row["status"]: row["count"] for row in rows}
                    if states and set(states) == {"sent"}:
                        return states["sent"]
                    await asyncio.sleep(0.2)
        except TimeoutError:
            errors = await conn.fetch(
                "SELECT DISTINCT last_error FROM outbox WHERE status <> 'sent' LIMIT 5"
            )
            raise AssertionError(
                f"mail still waiting: {states}, {[e[0] for e in errors]}"
            ) from None
    finally:
        await conn.close()


# -- serve --workers N ------------------------------------------------------------------------


def worker_pids(parent: int) -> set[int]:
    """The parent's children, from /proc."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


async def wait_for_workers(parent: int, count: int, other_than: set[int] = frozenset()) -> set[int]:  # type: ignore[assignment]
    async with asyncio.timeout(30):
        while True:
            pids = worker_pids(parent)
            if len(pids) == count and not pids & other_than:
                return pids
            await asyncio.sleep(0.1)


@pytest.fixture
async def workers(shared_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Paydesk]:
    paydesk = Paydesk(shared_env, tmp_path / "workers.log", "serve", "--workers", "2")
    try:
        yield paydesk
    finally:
        paydesk.stop()


async def test_serve_with_two_workers_serves_restarts_a_dead_worker_and_stops_cleanly(
    workers: Paydesk,
) -> None:
    await workers.up()
    parent = workers.process.pid
    first = await wait_for_workers(parent, 2)
    await workers.wait_for_line("is serving", times=2)
    # A new setup link replaces the last: one worker offers it, so the one printed works.
    assert workers.log.read_text().count("Open this one-time link") == 1
    async with ClientSession() as session:
        for _ in range(20):
            async with session.get(workers.base + "/healthz") as answer:
                assert answer.status == 200
        # A worker that dies is started again; the port never stops answering.
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        again = await wait_for_workers(parent, 2, other_than={victim})
        assert len(again & first) == 1
        await workers.wait_for_line("is serving", times=3)
        await wait_until_ok(workers.base + "/healthz")
    code, log = workers.stop(signal.SIGTERM)
    assert code == 0, log
    assert "Traceback" not in log
    assert "with 2 workers" in log
    assert "worker 1/2 is serving" in log and "worker 2/2 is serving" in log
    assert "exited (killed by SIGKILL); restarting it in 1 s" in log
    assert worker_pids(parent) == set()
    for pid in again:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
