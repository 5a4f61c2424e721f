"""Stripe's fee on each payment: fetched in the background from the balance transaction, shown net."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import stripe
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from server.balance import BalanceRecorder
from server.lifecycle import Balance, Facts
from server.payment_events import PaymentEvents
from server.payments import get_payment
from server.web.keys import db_key, events_key
from server.webhooks import WebhookProcessor
from tests import lifecycle_events as flows
from tests.console_helpers import SANDBOX_KEY, paid_payment, sign_in, start_console
from tests.seed import fetch_payment, seed_payment

TXN = "txn_fees_test"
FIGURES = Balance(TXN, 63, 2437, "eur", 1_700_200_000, "pending")


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    return client


async def sandbox(client: TestClient, method: str, path: str, **body: Any) -> dict[str, Any]:
    async with ClientSession() as session:
        response = await session.request(
            method, str(client.make_url(f"/_sandbox{path}")), json=body or None, headers=SANDBOX_KEY
        )
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def wait_for_fee(client: TestClient, payment_id: str, timeout: float = 15.0) -> int:
    async with asyncio.timeout(timeout):
        while True:
            payment = await fetch_payment(client, payment_id)
            if payment.fee is not None:
                return payment.fee
            await asyncio.sleep(0.05)


async def test_the_fee_arrives_after_the_charge_and_shows_net(console: TestClient) -> None:
    payment = await paid_payment(console)
    assert payment.fee is None  # at Stripe the balance transaction comes seconds later
    await sandbox(console, "POST", "/_control/timers/run", within=60)  # charge.updated is due
    fee = await wait_for_fee(console, payment.id)
    payment = await fetch_payment(console, payment.id)
    assert payment.balance_transaction_id is not None
    txn = await sandbox(
        console, "GET", f"/v1/balance_transactions/{payment.balance_transaction_id}"
    )
    assert (fee, payment.net, payment.fee_currency) == (txn["fee"], txn["net"], txn["currency"])
    assert payment.net == payment.amount - fee
    assert payment.receipt_url and payment.receipt_url.startswith("http")

    html = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert f"data-fee>€{fee / 100:.2f}<" in html
    assert f"data-net>€{payment.net / 100:.2f}" in html
    assert "Open the receipt" in html
    dashboard = await (await console.get("/admin")).text()
    assert (
        f"After Stripe's fees: <strong>€{payment.net / 100:.2f}</strong>"
        f" (€{fee / 100:.2f} in fees)" in dashboard
    )


async def facts_payment(client: TestClient, payment_id: str, facts: Facts) -> None:
    await seed_payment(client, payment_id, status="succeeded")

    def store(conn):  # type: ignore[no-untyped-def]
        conn.execute(
            "UPDATE payments SET facts = ?, balance_transaction_id = ? WHERE id = ?",
            (facts.to_json(), facts.balance_transaction, payment_id),
        )

    await client.server.app[db_key].write(store)


def recorder(client: TestClient, lookup: Any, **options: Any) -> BalanceRecorder:
    app = client.server.app
    return BalanceRecorder(app[db_key], lookup, app[events_key], **options)


async def test_a_fetch_is_recorded_once_and_a_repeat_changes_nothing(client: TestClient) -> None:
    await facts_payment(client, "pay_fee_once", Facts(paid=True, balance_transaction=TXN))
    asked: list[str] = []

    async def lookup(txn_id: str, timeout_s: float) -> Balance:
        asked.append(txn_id)
        return FIGURES

    fees = recorder(client, lookup)
    before = await fetch_payment(client, "pay_fee_once")
    assert await fees.fetch("pay_fee_once", TXN) is True
    after = await fetch_payment(client, "pay_fee_once")
    assert (after.fee, after.net, after.fee_currency) == (63, 2437, "eur")
    assert after.version == before.version + 1
    assert Facts.from_json(after.facts).balance == FIGURES
    assert await fees.fetch("pay_fee_once", TXN) is False  # the same answer teaches nothing
    assert (await fetch_payment(client, "pay_fee_once")).version == after.version
    assert asked == [TXN, TXN]


async def test_a_balance_transaction_of_another_charge_is_not_recorded(client: TestClient) -> None:
    await facts_payment(client, "pay_fee_other", Facts(paid=True, balance_transaction="txn_own"))

    async def lookup(txn_id: str, timeout_s: float) -> Balance:
        return FIGURES  # txn_fees_test, not the payment's own

    assert await recorder(client, lookup).fetch("pay_fee_other", TXN) is False
    assert (await fetch_payment(client, "pay_fee_other")).fee is None


async def test_a_failed_fetch_is_found_again_by_the_catch_up(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    await facts_payment(client, "pay_fee_later", Facts(paid=True, balance_transaction=TXN))
    answers: list[BaseException | Balance] = [
        TimeoutError(),
        stripe.APIConnectionError("Stripe unreachable"),
        FIGURES,
    ]

    async def lookup(txn_id: str, timeout_s: float) -> Balance:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    fees = recorder(client, lookup, timeout_s=0.5)
    worker = asyncio.get_running_loop().create_task(fees.serve())
    try:
        for _ in range(3):
            assert await fees.catch_up() == 1
            async with asyncio.timeout(5):
                while not fees.idle:
                    await asyncio.sleep(0.01)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    assert (await fetch_payment(client, "pay_fee_later")).fee == 63
    assert await fees.catch_up() == 0, "nothing is due once the fee is known"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("took over 0.5s" in w for w in warnings)
    assert any("Stripe unreachable" in w for w in warnings)


async def test_the_queue_is_bounded_and_never_waits(client: TestClient) -> None:
    async def lookup(txn_id: str, timeout_s: float) -> Balance:
        raise AssertionError("not asked: no worker runs")

    fees = recorder(client, lookup, queue_size=2)
    assert fees.wanted("pay_a", "txn_a") is True
    assert fees.wanted("pay_a", "txn_a") is False  # already queued
    assert fees.wanted("pay_b", "txn_b") is True
    assert fees.wanted("pay_c", "txn_c") is False  # full: the catch-up finds it later


async def test_the_webhook_is_answered_before_the_fee_is_fetched(client: TestClient) -> None:
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    release = asyncio.Event()

    async def slow_lookup(txn_id: str, timeout_s: float) -> Balance:
        await release.wait()  # Stripe is slow today
        return Balance(txn_id, 63, 2437, "eur")

    app = client.server.app
    events = PaymentEvents(lambda pid: get_payment(app[db_key], pid))
    fees = BalanceRecorder(app[db_key], slow_lookup, events)

    async def not_asked(intent_id: str) -> str | None:
        raise AssertionError("the payment is found by its metadata")

    processor = WebhookProcessor(app[db_key], not_asked, events, fees.wanted)
    worker = asyncio.get_running_loop().create_task(fees.serve())
    try:
        stripe_events = flows.fee_arrives_later(flows.Stripe("hand-built"))
        for event in stripe_events:
            async with asyncio.timeout(5):  # never held up by the fetch
                await processor.process(event, b"{}")
        payment = await fetch_payment(client, flows.PAYMENT_ID)
        assert (payment.balance_transaction_id, payment.fee) == (flows.TXN_ID, None)
        assert payment.receipt_url == flows.RECEIPT_URL
        release.set()
        async with asyncio.timeout(5):
            while (await fetch_payment(client, flows.PAYMENT_ID)).fee is None:
                await asyncio.sleep(0.01)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
