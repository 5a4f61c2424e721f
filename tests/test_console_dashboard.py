"""The dashboard's figures against a seeded data set with known totals, and its parts as functions."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.console.chart import TOP, bar_chart
from server.console.stats import PaidPayment, summarize
from server.lifecycle import Balance, Dispute, Facts, Refund
from tests.console_helpers import insert_payments, payment_row, sign_in, start_console

DUE_BY = int(time.time()) + 5 * 86400


def refunds(*amounts: int) -> dict[str, Any]:
    return {
        "paid": True,
        "refunds": {f"re_{n}": {"amount": a, "status": "succeeded"} for n, a in enumerate(amounts)},
    }


def dispute(status: str, amount: int) -> dict[str, Any]:
    return {
        "paid": True,
        "disputes": {
            f"dp_{status}": {
                "status": status,
                "reason": "fraudulent",
                "amount": amount,
                "due_by": DUE_BY,
                "created": 1,
                "event_id": "evt_1",
            }
        },
    }


def at(days_ago: int) -> int:
    """An hour into the UTC day `days_ago` days before today, in unix milliseconds."""
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    return int(datetime(day.year, day.month, day.day, 1, tzinfo=UTC).timestamp() * 1000)


# (id, days ago, amount, currency, status, facts): the totals below follow from these by hand.
DATA_SET = [
    ("pay_today_paid", 0, 2000, "eur", "succeeded", {"paid": True}),
    ("pay_today_partly", 0, 3000, "eur", "partially_refunded", refunds(1000)),
    ("pay_today_declined", 0, 1500, "eur", "declined", {}),
    ("pay_today_pending", 0, 1000, "eur", "pending", {}),
    ("pay_today_dollars", 0, 5000, "usd", "succeeded", {"paid": True}),
    ("pay_3d_refunded", 3, 4000, "eur", "refunded", refunds(4000)),
    ("pay_3d_disputed", 3, 2500, "eur", "disputed", dispute("needs_response", 2500)),
    ("pay_3d_expired", 3, 1000, "eur", "expired", {}),
    ("pay_10d_paid", 10, 10000, "eur", "succeeded", {"paid": True}),
    ("pay_10d_dispute_won", 10, 3000, "eur", "disputed", dispute("won", 3000)),
    ("pay_10d_failed", 10, 2000, "eur", "failed", {}),
    ("pay_40d_paid", 40, 99999, "eur", "succeeded", {"paid": True}),  # before every period
]
# Per period: (EUR revenue, USD revenue, payments, success rate, refund rate).
# Success rate = paid / (paid + failed): the expired checkout and the pending one do not count.
EXPECTED = [
    # EUR 2000 + 3000 - 1000 refunded; 3 paid, 1 declined
    ("€40.00", "$50.00", "3", "75.0%", "33.3%"),
    # + 4000 - 4000 refunded, + 2500 - 2500 disputed; 5 paid, 1 declined (1 expired, not counted)
    ("€40.00", "$50.00", "5", "83.3%", "40.0%"),
    # + 10000, + 3000 (dispute won); 7 paid, 1 declined and 1 failed debit
    ("€170.00", "$50.00", "7", "77.8%", "28.6%"),
]


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    rows = [
        payment_row(
            pid, created_at=at(days), amount=amount, currency=currency, status=status, facts=facts
        )
        for pid, days, amount, currency, status, facts in DATA_SET
    ]
    await insert_payments(client, rows)
    return client


def period_figures(html: str) -> list[tuple[str, str, str, str, str]]:
    found = []
    for chunk in html.split('data-period="')[1:]:
        article = chunk.split("</article>", 1)[0]

        def value(attribute: str, text: str = article) -> str:
            match = re.search(attribute + r"[^>]*>([^<]*)<", text)
            assert match, attribute
            return match.group(1)

        found.append(
            (
                value('data-revenue="eur"'),
                value('data-revenue="usd"'),
                value("data-paid"),
                value("data-success"),
                value("data-refund-rate"),
            )
        )
    return found


async def test_the_dashboard_figures_match_the_seeded_totals(console: TestClient) -> None:
    html = await (await console.get("/admin")).text()
    assert period_figures(html) == EXPECTED
    assert (
        "€245.00 paid, €50.00 refunded, €25.00 held by disputes · average €40.83" in html
    )  # 30 days, EUR


async def test_open_disputes_are_listed_with_their_deadline(console: TestClient) -> None:
    html = await (await console.get("/admin")).text()
    disputes = html.split('id="disputes-heading"', 1)[1].split("</section>", 1)[0]
    assert "dp_needs_response" in disputes
    assert "dp_won" not in disputes  # decided: nothing to answer
    assert time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(DUE_BY)) in disputes
    assert re.search(r"\b[45] days left", disputes)


async def test_the_payment_page_shows_the_dispute_and_its_deadline(console: TestClient) -> None:
    response = await console.get("/admin/payments/pay_3d_disputed")
    assert response.status == 200
    html = await response.text()
    assert "dp_needs_response" in html
    assert "dispute (fraudulent)" in html
    assert time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(DUE_BY)) in html
    assert "No refund is possible: the payment is disputed." in html


async def test_the_chart_has_a_bar_for_each_day_with_revenue(console: TestClient) -> None:
    html = await (await console.get("/admin")).text()
    euro_chart = html.split('class="chart-svg"', 1)[1].split("</svg>", 1)[0]
    titles = re.findall(r"<title>([^<]+)</title>", euro_chart)
    today = datetime.now(UTC).date()
    assert titles == [f"{today - timedelta(days=10)}: €130.00", f"{today}: €40.00"]


@pytest.mark.parametrize(
    ("amount", "facts", "net"),
    [
        (2000, Facts(paid=True), 2000),
        (2000, Facts(paid=True, refunds={"re_1": Refund(500, "succeeded")}), 1500),
        (
            2000,
            Facts(paid=True, refunds={"re_1": Refund(500, "failed")}),
            2000,
        ),  # a failed refund returned nothing
        (2000, Facts(paid=True, charge_refunded=2500), 0),  # never below zero
        (2000, Facts(paid=True, disputes={"dp": Dispute("lost", None, 2000, None, 1, "e")}), 0),
        (
            2000,
            Facts(paid=True, disputes={"dp": Dispute("under_review", None, 2000, None, 1, "e")}),
            0,
        ),
        (
            2000,
            Facts(
                paid=True,
                disputes={"dp": Dispute("warning_needs_response", None, 2000, None, 1, "e")},
            ),
            2000,
        ),
        (
            2000,
            Facts(
                paid=True,
                refunds={"re_1": Refund(1500, "succeeded")},
                disputes={"dp": Dispute("lost", None, 2000, None, 1, "e")},
            ),
            0,
        ),
    ],
)
def test_revenue_is_what_was_paid_less_refunds_and_disputes(
    amount: int, facts: Facts, net: int
) -> None:
    payment = PaidPayment(0, amount, "eur", facts)
    assert payment.net == net
    assert payment.refunded + payment.withheld + payment.net == amount


def test_the_chart_scales_to_the_best_day() -> None:
    day = date(2024, 5, 1)
    chart = bar_chart(
        [(day, 0), (day + timedelta(days=1), 500), (day + timedelta(days=2), 1000)], "eur"
    )
    empty, half, full = chart.bars
    assert empty.height == 0
    assert full.height == chart.baseline - TOP
    assert half.height == pytest.approx(full.height / 2, abs=0.1)
    assert full.label == "2024-05-03: €10.00"
    assert "€15.00 in all" in chart.summary


DECLINE = {"message": "Your card was declined.", "code": "card_declined", "decline_code": None}


async def test_checkouts_left_unpaid_do_not_lower_the_success_rate(
    aiohttp_server, aiohttp_client, app_env: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    declined_then_left = {"expired": True, "decline": {**DECLINE, "created": 1, "event_id": "e"}}
    await insert_payments(
        client,
        [
            payment_row("pay_paid", created_at=at(0), facts={"paid": True}),
            *(
                payment_row(
                    f"pay_left_{n}", created_at=at(0), status="expired", facts={"expired": True}
                )
                for n in range(3)
            ),
            payment_row("pay_never_opened", created_at=at(0), status="not_started"),
            payment_row(
                "pay_refused", created_at=at(0), status="expired", facts=declined_then_left
            ),
        ],
    )
    html = await (await client.get("/admin")).text()
    # 1 paid, 1 failed (declined, then the customer gave up); the 3 left unpaid and the one
    # Stripe never opened are not failures.
    assert [figures[2] for figures in period_figures_any(html)] == ["50.0%"] * 3
    assert "Success rate = paid ÷ (paid + failed)" in html
    assert "Checkouts left unpaid without a try" in html


def period_figures_any(html: str) -> list[tuple[str, ...]]:
    """Like period_figures, for a data set in one currency."""
    found = []
    for chunk in html.split('data-period="')[1:]:
        article = chunk.split("</article>", 1)[0]
        found.append(
            tuple(
                re.search(attribute + r"[^>]*>([^<]*)<", article).group(1)  # type: ignore[union-attr]
                for attribute in (
                    'data-revenue="eur"',
                    "data-paid",
                    "data-success",
                    "data-refund-rate",
                )
            )
        )
    return found


async def test_the_figures_can_be_fetched_again_with_what_changed_since(
    console: TestClient,
) -> None:
    """What the open dashboard fetches when the live feed reports a change."""
    dashboard = await (await console.get("/admin")).text()
    assert 'data-figures-url="/admin/figures"' in dashboard
    await insert_payments(
        console, [payment_row("pay_just_now", created_at=at(0), amount=1000, facts={"paid": True})]
    )
    response = await console.get("/admin/figures")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    assert period_figures(html)[0] == ("€50.00", "$50.00", "4", "80.0%", "25.0%")
    assert re.search(r"Figures as of <time data-as-of>\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>", html)
    assert "<html" not in html  # the part of the page that changes, not a page


def test_revenue_after_fees_counts_the_fees_stripe_kept() -> None:
    today = date(2024, 5, 1)
    at_noon = int(datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp() * 1000)
    fee = Balance("txn_1", 59, 1941, "eur")
    payments = [
        PaidPayment(at_noon, 2000, "eur", Facts(paid=True, balance=fee)),
        # Refunded in full: Stripe keeps its fee all the same.
        PaidPayment(
            at_noon,
            2000,
            "eur",
            Facts(paid=True, balance=fee, refunds={"re_1": Refund(2000, "succeeded")}),
        ),
        PaidPayment(at_noon, 1000, "eur", Facts(paid=True)),  # its fee is not known yet
        # Settled in another currency: not taken from euro revenue.
        PaidPayment(at_noon, 1000, "eur", Facts(paid=True, balance=Balance("t", 30, 900, "usd"))),
    ]
    money = summarize(payments, [0, 0, 0], today).periods[0].by_currency["eur"]
    assert (money.net, money.fees, money.after_fees, money.fee_unknown) == (4000, 118, 3882, 2)


async def test_the_dashboard_shows_revenue_after_fees(
    aiohttp_server, aiohttp_client, app_env: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    facts = Facts(paid=True, balance=Balance("txn_1", 59, 1941, "eur"))
    await insert_payments(
        client,
        [
            payment_row("pay_fee_known", created_at=at(0), facts=json.loads(facts.to_json())),
            payment_row("pay_fee_later", created_at=at(0), facts={"paid": True}),
        ],
    )
    html = await (await client.get("/admin")).text()
    [today] = re.findall(r'data-after-fees="eur">(.*?)</p>', html)[:1]
    assert "After Stripe's fees: <strong>€39.41</strong>" in today
    assert "(€0.59 in fees; 1 payment without a known fee yet)" in today
