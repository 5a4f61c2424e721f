"""A disputed payment's page says what to do: by when, which evidence helps, and where to answer."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.console.disputes import advise, dashboard_url
from server.lifecycle import Dispute
from tests.console_helpers import insert_payments, payment_row, sign_in, start_console

DUE_BY = int(time.time()) + 3 * 86400 + 600


def disputed(dispute_id: str, status: str, reason: str) -> dict[str, Any]:
    return {
        "paid": True,
        "disputes": {
            dispute_id: {
                "status": status,
                "reason": reason,
                "amount": 2000,
                "due_by": DUE_BY,
                "created": 1,
                "event_id": "evt_1",
            }
        },
    }


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    rows = [
        ("pay_fraud", "dp_fraud", "needs_response", "fraudulent"),
        ("pay_missing", "dp_missing", "needs_response", "product_not_received"),
        ("pay_won", "dp_won", "won", "fraudulent"),
    ]
    await insert_payments(
        client,
        [
            payment_row(
                pid, created_at=1_700_000_000_000, status="disputed", facts=disputed(did, s, r)
            )
            for pid, did, s, r in rows
        ],
    )
    return client


async def page_of(console: TestClient, payment_id: str) -> str:
    response = await console.get(f"/admin/payments/{payment_id}")
    assert response.status == 200
    return await response.text()


async def test_an_open_dispute_says_to_respond_by_the_deadline_with_evidence_for_its_reason(
    console: TestClient,
) -> None:
    html = await page_of(console, "pay_fraud")
    deadline = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(DUE_BY))
    assert f"Respond by {deadline}</strong> (3 days left)" in html
    assert "Respond in the Stripe Dashboard before the deadline" in html
    assert "The cardholder says they did not make or allow this payment." in html
    assert "Proof the customer made the payment" in html
    assert "Proof they used what they paid for" in html
    assert 'href="https://dashboard.stripe.com/test/disputes/dp_fraud"' in html


async def test_the_evidence_follows_the_disputes_reason(console: TestClient) -> None:
    html = await page_of(console, "pay_missing")
    assert "The customer says they did not receive what they paid for." in html
    assert "Proof of delivery or access" in html
    assert "Proof the customer made the payment" not in html


async def test_a_decided_dispute_asks_for_nothing(console: TestClient) -> None:
    html = await page_of(console, "pay_won")
    assert "Won: the disputed amount came back to you. Nothing to do." in html
    assert "<strong>Respond by" not in html
    assert "<td>decided</td>" in html  # no deadline left to meet
    assert "Evidence that helps" not in html
    assert 'href="https://dashboard.stripe.com/test/disputes/dp_won"' in html


@pytest.mark.parametrize(
    ("test_mode", "url"),
    [
        (False, "https://dashboard.stripe.com/disputes/dp_1"),
        (True, "https://dashboard.stripe.com/test/disputes/dp_1"),
    ],
)
def test_the_dashboard_link_is_in_the_keys_mode(test_mode: bool, url: str) -> None:
    assert dashboard_url("dp_1", test_mode=test_mode) == url


@pytest.mark.parametrize(
    ("status", "evidence_asked"),
    [
        ("needs_response", True),
        ("warning_needs_response", True),
        ("under_review", False),
        ("warning_under_review", False),
        ("won", False),
        ("lost", False),
        ("warning_closed", False),
    ],
)
def test_evidence_is_asked_for_only_while_an_answer_is_due(
    status: str, evidence_asked: bool
) -> None:
    advice = advise("dp_1", Dispute(status, "general", 100, None, 1, "e"), test_mode=True)
    assert bool(advice.evidence) is evidence_asked
    assert advice.answerable is evidence_asked
