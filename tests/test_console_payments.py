"""Finding payments: search, filters, keyset pages, CSV export, the detail page, and the plan at 100k rows."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.console.api_tokens import create_api_token
from server.console.csv_export import safe_cell
from server.console.queries import Cursor, PaymentFilter, list_sql, parse_filter
from server.db import Database
from server.package_data import migrations_folder
from server.web.keys import db_key
from tests.console_helpers import (
    insert_payments,
    now_ms,
    paid_payment,
    payment_row,
    sign_in,
    start_console,
)

BASE = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    return client


def listed_ids(html: str) -> list[str]:
    return re.findall(r'href="/admin/payments/(pay_[A-Za-z0-9_-]+)"', html)


async def test_the_list_pages_newest_first_without_gaps_or_repeats(console: TestClient) -> None:
    # 120 payments, some sharing a created_at: the keyset (created_at, id) must still page cleanly.
    rows = [payment_row(f"pay_{n:04d}", created_at=BASE + (n // 3) * 1000) for n in range(120)]
    await insert_payments(console, rows)
    seen: list[str] = []
    url = "/admin/payments"
    while url:
        html = await (await console.get(url)).text()
        seen += listed_ids(html)
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == [f"pay_{n:04d}" for n in reversed(range(120))]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "grace@example.org"}, ["pay_grace"]),
        ({"q": "GRACE@EXAMPLE.ORG"}, ["pay_grace"]),
        ({"q": "hopper"}, ["pay_grace"]),
        ({"q": "example.org"}, ["pay_grace", "pay_alan"]),
        ({"q": "pay_alan"}, ["pay_alan"]),
        ({"q": "pi_alan123"}, ["pay_alan"]),
        ({"q": "re_graces_refund"}, ["pay_grace"]),
        ({"q": "100%"}, []),
        ({"status": "refunded"}, ["pay_grace"]),
        ({"product": "ten-class-pass"}, ["pay_alan"]),
        ({"from": "2023-11-15", "to": "2023-11-15"}, ["pay_alan"]),
        ({"to": "2023-11-14"}, ["pay_ada"]),
        ({"status": "succeeded", "q": "ada"}, ["pay_ada"]),
    ],
)
async def test_search_and_filters(
    console: TestClient, query: dict[str, str], expected: list[str]
) -> None:
    grace_facts = {
        "paid": True,
        "refunds": {"re_graces_refund": {"amount": 2000, "status": "succeeded"}},
    }
    await insert_payments(
        console,
        [
            payment_row("pay_ada", created_at=BASE),
            payment_row(
                "pay_alan",
                created_at=BASE + DAY,
                name="Alan Turing",
                email="alan@example.org",
                product_id="ten-class-pass",
                intent_id="pi_alan123",
            ),
            payment_row(
                "pay_grace",
                created_at=BASE + 2 * DAY,
                name="Grace Hopper",
                email="grace@example.org",
                status="refunded",
                facts=grace_facts,
            ),
        ],
    )
    response = await console.get("/admin/payments", params=query)
    assert response.status == 200
    assert listed_ids(await response.text()) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "paid-ish"}, "There is no status called"),
        ({"from": "yesterday"}, "Enter the date as YYYY-MM-DD"),
        ({"from": "2024-05-02", "to": "2024-05-01"}, "The end date is before the start date."),
        ({"product": "<script>"}, "A product id has only"),
        ({"cursor": "garbage"}, "That page link is broken"),
        ({"q": "x" * 201}, "Search for at most 200 characters."),
    ],
)
async def test_nonsense_filters_get_a_message_not_a_500(
    console: TestClient, query: dict[str, str], message: str
) -> None:
    response = await console.get("/admin/payments", params=query)
    assert response.status == 400
    assert message in await response.text()
    if "cursor" not in query:  # the export has no pages
        assert (await console.get("/admin/payments.csv", params=query)).status == 400


async def test_the_csv_export_follows_the_filter_and_defuses_formulas(console: TestClient) -> None:
    await insert_payments(
        console,
        [
            payment_row(
                "pay_evil", created_at=BASE, name='=HYPERLINK("http://x")', email="+1@example.com"
            ),
            payment_row(
                "pay_tab", created_at=BASE + 1, name="\tTab", email="t@example.com", amount=1234
            ),
            payment_row("pay_other", created_at=BASE + 2, name="Other", status="expired"),
        ],
    )
    response = await console.get("/admin/payments.csv", params={"status": "succeeded"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="payments-')
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == ["pay_tab", "pay_evil"]
    assert (rows[0]["stripe_fee"], rows[0]["net"], rows[0]["fee_currency"]) == ("", "", "")
    assert rows[0]["customer_name"] == "'\tTab"
    assert rows[0]["amount"] == "12.34"
    assert rows[1]["customer_name"] == '\'=HYPERLINK("http://x")'
    assert rows[1]["customer_email"] == "'+1@example.com"
    assert rows[1]["created_at"] == "2023-11-14T22:13:20Z"


async def test_stripe_fee_and_net_are_exported_once_known(console: TestClient) -> None:
    await insert_payments(console, [payment_row("pay_fee", created_at=BASE, amount=12000)])
    await console.server.app[db_key].write(
        lambda conn: conn.execute(
            "UPDATE payments SET fee = 205, net = 11795, fee_currency = 'eur' WHERE id = 'pay_fee'"
        )
    )
    response = await console.get("/admin/payments.csv")
    [row] = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert (row["amount"], row["stripe_fee"], row["net"], row["fee_currency"]) == (
        "120.00",
        "2.05",
        "117.95",
        "eur",
    )
    _, secret = await create_api_token(console.server.app[db_key], "books")
    headers = {"Authorization": f"Bearer {secret}"}
    listed = await (await console.get("/api/admin/payments", headers=headers)).json()
    [payment] = listed["data"]
    assert (payment["fee"], payment["net"], payment["fee_currency"]) == (205, 11795, "eur")


async def test_the_csv_export_streams_every_page(console: TestClient) -> None:
    await insert_payments(
        console, [payment_row(f"pay_{n:05d}", created_at=BASE + n) for n in range(1203)]
    )
    response = await console.get("/admin/payments.csv")
    lines = (await response.read()).decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 1203
    assert lines[1].startswith("pay_01202,")


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_prefixed(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Ada", "a=b", "", None, 12])
def test_plain_cells_are_left_alone(value: object) -> None:
    assert safe_cell(value) == ("" if value is None else str(value))


async def test_the_detail_page_shows_every_event_and_mail(console: TestClient) -> None:
    payment = await paid_payment(console)
    db = console.server.app[db_key]
    stamp = now_ms()
    await db.write(
        lambda conn: conn.execute(
            "INSERT INTO outbox (payment_id, kind, dedupe_key, status, attempts, next_attempt_at, last_error, created_at)"
            " VALUES (?, 'receipt', 'receipt:resend:9', 'pending', 2, ?, '451 4.7.1 Greylisted, try again later', ?)",
            (payment.id, stamp + 3_600_000, stamp),  # not due yet: the mail sender leaves it
        )
    )
    # Read before the page: an event still on its way (the fee's charge.updated) may come between.
    events = await db.fetch_all(
        "SELECT id, type FROM stripe_events WHERE payment_id = ?", (payment.id,)
    )
    html = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert len(events) >= 4
    for event in events:
        assert event["id"] in html
        assert event["type"] in html
    assert "payment succeeded" in html  # the reason the event was applied
    assert "Receipt to the customer" in html
    assert "retrying" in html
    assert "server said: 451 4.7.1 Greylisted, try again later" in html
    assert payment.payment_intent_id in html
    assert "dashboard.stripe.com" not in html  # test mode: Stripe ids are not linked
    assert f'value="http://127.0.0.1:{console.server.port}/payments/{payment.id}" readonly' in html


async def test_the_api_lists_and_shows_payments(console: TestClient) -> None:
    await insert_payments(
        console, [payment_row(f"pay_{n:03d}", created_at=BASE + n) for n in range(5)]
    )
    _, secret = await create_api_token(console.server.app[db_key], "books")
    headers = {"Authorization": f"Bearer {secret}"}
    first = await (
        await console.get("/api/admin/payments", params={"limit": "3"}, headers=headers)
    ).json()
    assert [p["id"] for p in first["data"]] == ["pay_004", "pay_003", "pay_002"]
    assert first["has_more"] is True
    rest = await (
        await console.get(
            "/api/admin/payments",
            params={"limit": "3", "cursor": first["next_cursor"]},
            headers=headers,
        )
    ).json()
    assert [p["id"] for p in rest["data"]] == ["pay_001", "pay_000"]
    assert rest["next_cursor"] is None
    bad = await console.get("/api/admin/payments", params={"status": "nope"}, headers=headers)
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "status"
    detail = await (await console.get("/api/admin/payments/pay_001", headers=headers)).json()
    assert detail["customer"] == {"name": "Ada Lovelace", "email": "ada@example.com"}
    assert detail["events"] == [] and detail["mails"] == [] and detail["refund_requests"] == []


FILTERS = {
    "no filter": (PaymentFilter(), "payments_created_id"),
    "status": (parse_filter({"status": "succeeded"}), "payments_status_created_id"),
    "product": (parse_filter({"product": "drop-in-class"}), "payments_product_created_id"),
    "dates": (parse_filter({"from": "2023-11-20", "to": "2023-12-01"}), "payments_created_id"),
    "status and dates": (
        parse_filter({"status": "expired", "from": "2023-11-20"}),
        "payments_status_created_id",
    ),
    "email": (parse_filter({"q": "user7@example.com"}), "payments_email_created_id"),
}


async def test_the_list_query_stays_on_an_index_at_100000_payments(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "big.db")
    try:
        await db.migrate(migrations_folder())
        statuses = ("succeeded", "expired", "pending", "refunded")
        await insert_payments(
            db,
            [
                payment_row(
                    f"pay_{n:06d}",
                    created_at=BASE + n * 7_000,
                    status=statuses[n % 4],
                    email=f"user{n % 1000}@example.com",
                    product_id=("drop-in-class", "ten-class-pass")[n % 2],
                )
                for n in range(100_000)
            ],
        )
        await db.write(
            lambda conn: conn.execute("ANALYZE")
        )  # plans as a long-running database has them
        cursor = Cursor(BASE + 50_000 * 7_000, "pay_050000")
        for name, (chosen, index) in FILTERS.items():
            for after in (None, cursor):
                sql, params = list_sql(chosen, after, 51)
                plan = " | ".join(
                    row[3] for row in await db.fetch_all("EXPLAIN QUERY PLAN " + sql, params)
                )
                assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, (
                    name,
                    plan,
                )
                assert "TEMP B-TREE" not in plan, (name, plan)
                assert not re.search(r"SCAN payments(?! USING)", plan), (name, plan)
    finally:
        await db.close()


REFERENCE_ID = "pay_Kq3xW9zTfA1b-cD_eFgHiJkLmN0p"
NEIGHBOUR_ID = "pay_Kq3xW9zUzzzzzzzzzzzzzzzzzzzz"  # shares the first 9 characters


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (REFERENCE_ID[:12], [REFERENCE_ID]),  # the reference the customer reads out
        (REFERENCE_ID[:9], [REFERENCE_ID, NEIGHBOUR_ID]),  # newest first
        (REFERENCE_ID[:8], [REFERENCE_ID, NEIGHBOUR_ID]),
        (REFERENCE_ID, [REFERENCE_ID]),
        ("pay_Kq3xW9zV", []),
        ("cs_test_kq3x", [REFERENCE_ID]),
        ("pi_kq3x", [REFERENCE_ID]),
        ("mary@example.net", [REFERENCE_ID]),
        ("Somerville", [REFERENCE_ID]),
    ],
)
async def test_search_finds_a_payment_by_its_reference_and_stripe_ids(
    console: TestClient, q: str, expected: list[str]
) -> None:
    await insert_payments(
        console,
        [
            payment_row(
                REFERENCE_ID,
                created_at=BASE + 1,
                name="Mary Somerville",
                email="mary@example.net",
                intent_id="pi_kq3x",
            ),
            payment_row(NEIGHBOUR_ID, created_at=BASE),
        ],
    )
    await console.server.app[db_key].write(
        lambda conn: conn.execute(
            "UPDATE payments SET checkout_session_id = 'cs_test_kq3x' WHERE id = ?", (REFERENCE_ID,)
        )
    )
    response = await console.get("/admin/payments", params={"q": q})
    assert response.status == 200
    assert listed_ids(await response.text()) == expected


async def test_a_reference_too_short_to_tell_payments_apart_gets_a_message(
    console: TestClient,
) -> None:
    response = await console.get("/admin/payments", params={"q": "pay_Kq3"})
    assert response.status == 400
    assert "Type at least 8 characters of the payment reference" in await response.text()


async def test_a_reference_search_reads_a_range_of_the_primary_key(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "big.db")
    try:
        await db.migrate(migrations_folder())
        await insert_payments(
            db,
            [
                payment_row(f"pay_{n:06d}Xy", created_at=BASE + n * 7_000, intent_id=f"pi_{n:06d}")
                for n in range(20_000)
            ],
        )
        await db.write(lambda conn: conn.execute("ANALYZE"))
        sql, params = list_sql(parse_filter({"q": "pay_01234"}), None, 51)
        plan = " | ".join(row[3] for row in await db.fetch_all("EXPLAIN QUERY PLAN " + sql, params))
        assert "(id>? AND id<?)" in plan, plan
        assert [row["id"] for row in await db.fetch_all(sql, params)] == [
            f"pay_{n:06d}Xy" for n in reversed(range(12340, 12350))
        ]
    finally:
        await db.close()


async def test_the_detail_page_shows_the_customers_reference(console: TestClient) -> None:
    await insert_payments(console, [payment_row(REFERENCE_ID, created_at=BASE)])
    html = await (await console.get(f"/admin/payments/{REFERENCE_ID}")).text()
    assert f'<span class="mono" data-reference>{REFERENCE_ID[:12]}</span>' in html


async def test_the_detail_page_shows_only_what_applies_to_the_payments_state(
    console: TestClient,
) -> None:
    paid = await paid_payment(console)
    html = await (await console.get(f"/admin/payments/{paid.id}")).text()
    assert "Checkout expires" not in html
    assert "Checkout attempts" not in html
    assert "Checkout could not be opened" not in html
    assert "Left to refund" in html

    expires_at = now_ms() + 3_600_000
    await insert_payments(console, [payment_row("pay_waiting", created_at=BASE, status="pending")])
    await console.server.app[db_key].write(
        lambda conn: conn.execute(
            "UPDATE payments SET expires_at = ? WHERE id = 'pay_waiting'", (expires_at,)
        )
    )
    html = await (await console.get("/admin/payments/pay_waiting")).text()
    assert "Checkout expires" in html
    assert "Left to refund" not in html  # nothing was paid yet
    assert "Checkout could not be opened" not in html


async def test_every_row_of_the_list_is_one_link_to_its_payment(console: TestClient) -> None:
    await insert_payments(console, [payment_row(REFERENCE_ID, created_at=BASE, name="Mary")])
    html = await (await console.get("/admin/payments")).text()
    row = html.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    links = re.findall(r"<a [^>]*>", row)
    assert links == [f'<a class="row-link" href="/admin/payments/{REFERENCE_ID}">']
