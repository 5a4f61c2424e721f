"""Refunds from the console and the admin API, through the sandbox: once each, whatever happens."""

from __future__ import annotations

import asyncio
from html import unescape

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from server.console.api_tokens import create_api_token
from server.lifecycle import Facts
from server.payments import Payment
from server.web.keys import db_key
from tests.conftest import count_rows
from tests.console_helpers import (
    SANDBOX_KEY,
    add_fault,
    hidden_fields,
    paid_payment,
    post_form,
    sandbox_refunds,
    sign_in,
    start_console,
    wait_for_payment,
)
from tests.live import next_snapshot, open_live, wait_for_status
from tests.pages import pay_on_hosted_page
from tests.seed import fetch_payment


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    return client


async def confirm_form(
    client: TestClient, payment_id: str, amount: str = "", reason: str = ""
) -> dict[str, str]:
    """Step one, as the detail page's refund form sends it: the confirmation page's hidden fields."""
    response = await client.get(
        f"/admin/payments/{payment_id}/refund", params={"amount": amount, "reason": reason}
    )
    assert response.status == 200, await response.text()
    return hidden_fields(await response.text())


async def submit(client: TestClient, payment_id: str, fields: dict[str, str]):  # type: ignore[no-untyped-def]
    return await client.post(
        f"/admin/payments/{payment_id}/refund", data=fields, allow_redirects=False
    )


async def wait_for_refunds(client: TestClient, payment_id: str, count: int) -> None:
    """Until the payment's facts know `count` refunds by id (Stripe's events come in any order)."""
    async with asyncio.timeout(10):
        while len(Facts.from_json((await fetch_payment(client, payment_id)).facts).refunds) < count:
            await asyncio.sleep(0.05)


async def outbox_keys(client: TestClient, payment_id: str) -> list[str]:
    rows = await client.server.app[db_key].fetch_all(
        "SELECT dedupe_key FROM outbox WHERE payment_id = ? ORDER BY id", (payment_id,)
    )
    return [row[0] for row in rows]


async def test_a_full_refund_reaches_the_customer_page_and_queues_the_mail(
    console: TestClient,
) -> None:
    payment = await paid_payment(console, quantity=2)
    ws = await open_live(console, payment.id)
    assert (await next_snapshot(ws))["payment"]["status"] == "succeeded"
    fields = await confirm_form(console, payment.id, reason="requested_by_customer")
    assert fields["amount"] == "3000"  # blank means everything that is left
    response = await submit(console, payment.id, fields)
    assert (response.status, response.headers["Location"]) == (
        303,
        f"/admin/payments/{payment.id}?done=refund-sent",
    )
    refunded = await wait_for_status(ws, "refunded")
    assert refunded["payment"]["view"]["title"] == "Refunded"
    await ws.close()
    await wait_for_refunds(console, payment.id, 1)  # charge.refunded may come before refund.created
    [refund] = await sandbox_refunds(console, payment.payment_intent_id or "")
    assert (refund["amount"], refund["reason"], refund["metadata"]) == (
        3000,
        "requested_by_customer",
        {"payment_id": payment.id},
    )
    assert f"refund_confirmation:{refund['id']}" in await outbox_keys(console, payment.id)
    page = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert "accepted by Stripe" in page
    assert "No refund is possible: nothing is left to refund" in page


async def test_partial_refunds_leave_the_rest_refundable(console: TestClient) -> None:
    payment = await paid_payment(console, quantity=2)  # €30.00
    ws = await open_live(console, payment.id)
    await next_snapshot(ws)
    assert (
        await submit(console, payment.id, await confirm_form(console, payment.id, "12.50"))
    ).status == 303
    partly = await wait_for_status(ws, "partially_refunded")
    assert "€12.50 of €30.00" in partly["payment"]["view"]["detail"]
    fields = await confirm_form(console, payment.id)
    assert fields["amount"] == "1750"
    assert (await submit(console, payment.id, fields)).status == 303
    await wait_for_status(ws, "refunded")
    await ws.close()
    assert sorted(
        r["amount"] for r in await sandbox_refunds(console, payment.payment_intent_id or "")
    ) == [1250, 1750]


async def test_a_decimal_comma_refunds_that_many_euros(console: TestClient) -> None:
    payment = await paid_payment(console)  # €15.00, in a shop whose customers write 2,50
    fields = await confirm_form(console, payment.id, "2,50")
    assert fields["amount"] == "250"
    assert (await submit(console, payment.id, fields)).status == 303
    refunds = await sandbox_refunds(console, payment.payment_intent_id or "")
    assert [r["amount"] for r in refunds] == [250]


async def test_more_than_remains_is_refused_before_stripe_is_asked(console: TestClient) -> None:
    payment = await paid_payment(console)  # €15.00
    response = await console.get(f"/admin/payments/{payment.id}/refund", params={"amount": "15.01"})
    assert response.status == 409
    assert "At most €15.00 can be refunded." in await response.text()
    forged = await post_form(
        console,
        f"/admin/payments/{payment.id}/refund",
        form_token="t" * 32,
        amount="1501",
        reason="",
    )
    assert forged.status == 409
    assert await count_rows(console, "refund_requests") == 0
    assert await sandbox_refunds(console, payment.payment_intent_id or "") == []


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "Enter the amount in digits"),
        ("0", "greater than zero"),
        ("1.2345", "at most 2 decimals"),
        ("1e999999", "Enter the amount in digits"),
    ],
)
async def test_a_nonsense_amount_gets_a_message(
    console: TestClient, amount: str, message: str
) -> None:
    payment = await paid_payment(console)
    response = await console.get(f"/admin/payments/{payment.id}/refund", params={"amount": amount})
    assert response.status == 400
    assert message in await response.text()


async def test_a_payment_that_is_not_paid_cannot_be_refunded(console: TestClient) -> None:
    response = await console.post(
        "/api/checkout",
        json={"product": "drop-in-class", "quantity": 1, "name": "Bo", "email": "bo@example.com"},
    )
    payment_id = (await response.json())["payment_id"]
    answer = await console.get(f"/admin/payments/{payment_id}/refund")
    assert answer.status == 409
    assert "Only a paid payment can be refunded; this one is pending." in await answer.text()
    forged = await post_form(
        console, f"/admin/payments/{payment_id}/refund", form_token="t" * 32, amount="100"
    )
    assert forged.status == 409
    assert await count_rows(console, "refund_requests") == 0


async def test_a_double_submitted_confirmation_refunds_once(console: TestClient) -> None:
    payment = await paid_payment(console)
    fields = await confirm_form(console, payment.id)
    first, second = await asyncio.gather(
        submit(console, payment.id, fields), submit(console, payment.id, fields)
    )
    assert {first.status, second.status} == {303}
    notices = sorted(r.headers["Location"].rsplit("=", 1)[1] for r in (first, second))
    assert notices[1] == "refund-sent"  # one of them sent it; the other found it sent or on its way
    assert notices[0] in ("refund-already-sent", "refund-in-progress")
    again = await submit(console, payment.id, fields)  # a third click, after both finished
    assert again.headers["Location"] == f"/admin/payments/{payment.id}?done=refund-already-sent"
    assert "it was not sent twice" in await (await console.get(again.headers["Location"])).text()
    assert await count_rows(console, "refund_requests") == 1
    assert len(await sandbox_refunds(console, payment.payment_intent_id or "")) == 1


async def test_stripe_unreachable_gives_a_message_and_a_safe_retry(console: TestClient) -> None:
    payment = await paid_payment(console)
    fields = await confirm_form(console, payment.id, "5")
    # Fails the first try and both of the SDK's automatic retries (STRIPE_MAX_NETWORK_RETRIES=2).
    await add_fault(console, path_prefix="/v1/refunds", method="POST", status=500, count=3)
    failed = await submit(console, payment.id, fields)
    assert failed.status == 503
    page = await failed.text()
    assert "nothing was refunded" in page
    assert hidden_fields(page)["form_token"] == fields["form_token"]  # the retry reuses the request
    assert await sandbox_refunds(console, payment.payment_intent_id or "") == []
    detail = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert "not sent: Stripe unreachable" in detail
    assert (
        "Left to refund</dt><dd data-remaining>€10.00" in detail
    )  # the €5 stays held until retried
    retried = await submit(console, payment.id, hidden_fields(page))
    assert retried.status == 303
    [refund] = await sandbox_refunds(console, payment.payment_intent_id or "")
    assert refund["amount"] == 500
    row = await console.server.app[db_key].fetch_one("SELECT state, attempts FROM refund_requests")
    assert row is not None
    assert (row["state"], row["attempts"]) == ("sent", 2)
    await wait_for_payment(console, payment.id, "partially_refunded")


async def test_an_unknown_payment_is_404(console: TestClient) -> None:
    assert (await console.get("/admin/payments/pay_nosuchpayment")).status == 404
    assert (await console.get("/admin/payments/pay_nosuchpayment/refund")).status == 404
    response = await post_form(console, "/admin/payments/pay_nosuchpayment/resend")
    assert response.status == 404


async def test_resending_the_receipt_queues_another_copy(console: TestClient) -> None:
    payment = await paid_payment(console)
    response = await post_form(console, f"/admin/payments/{payment.id}/resend")
    assert (response.status, response.headers["Location"]) == (
        303,
        f"/admin/payments/{payment.id}?done=receipt",
    )
    row = await console.server.app[db_key].fetch_one(
        "SELECT kind FROM outbox WHERE payment_id = ? AND dedupe_key = 'receipt:resend:1'",
        (payment.id,),
    )
    assert row is not None
    assert row["kind"] == "receipt"


async def api_headers(client: TestClient, key: str | None = None) -> dict[str, str]:
    _, secret = await create_api_token(client.server.app[db_key], "refund script")
    return {"Authorization": f"Bearer {secret}"} | ({"Idempotency-Key": key} if key else {})


async def test_the_api_refunds_once_per_idempotency_key(console: TestClient) -> None:
    payment = await paid_payment(console, quantity=2)
    headers = await api_headers(console, "order-77-refund")
    url = f"/api/admin/payments/{payment.id}/refunds"
    first = await console.post(url, json={"amount": 500, "reason": "duplicate"}, headers=headers)
    assert first.status == 201, await first.text()
    created = (await first.json())["refund_request"]
    assert (created["state"], created["amount"], created["requested_by"]) == (
        "sent",
        500,
        "api:refund script",
    )
    replay = await console.post(url, json={"amount": 500, "reason": "duplicate"}, headers=headers)
    assert replay.status == 200
    assert (await replay.json())["refund_request"]["stripe_refund_id"] == created[
        "stripe_refund_id"
    ]
    other = await console.post(url, json={"amount": 700}, headers=headers)
    assert other.status == 409
    assert len(await sandbox_refunds(console, payment.payment_intent_id or "")) == 1
    rest = await console.post(
        url, json={}, headers=await api_headers(console)
    )  # no key, no amount: the rest
    assert rest.status == 201
    assert (await rest.json())["refund_request"]["amount"] == 2500
    await wait_for_payment(console, payment.id, "refunded")
    await wait_for_refunds(console, payment.id, 2)
    detail = await (await console.get(f"/api/admin/payments/{payment.id}", headers=headers)).json()
    assert detail["refundable_amount"] == 0
    assert {r["amount"] for r in detail["refunds"]} == {500, 2500}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"amount": 999_999}, 409, "At most €15.00 can be refunded."),
        ({"amount": "5"}, 400, "amount: a whole number"),
        ({"amount": 100, "reason": "because"}, 400, "Choose a reason"),
        ({"amount": 100, "note": "x"}, 400, "only 'amount'"),
        ([1], 400, "only 'amount'"),
    ],
)
async def test_the_api_refuses_bad_refunds_with_a_message(
    console: TestClient, body: object, status: int, message: str
) -> None:
    payment = await paid_payment(console)
    response = await console.post(
        f"/api/admin/payments/{payment.id}/refunds", json=body, headers=await api_headers(console)
    )
    assert response.status == status
    assert message in (await response.json())["error"]["message"]
    assert await sandbox_refunds(console, payment.payment_intent_id or "") == []


async def test_the_api_answers_404_for_an_unknown_payment(console: TestClient) -> None:
    headers = await api_headers(console)
    assert (await console.get("/api/admin/payments/pay_nope", headers=headers)).status == 404
    response = await console.post("/api/admin/payments/pay_nope/refunds", json={}, headers=headers)
    assert response.status == 404
    assert (await response.json())["error"]["message"] == "There is no payment with that id."


async def test_any_mail_of_the_payment_can_be_sent_again(console: TestClient) -> None:
    payment = await paid_payment(console)
    page = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert '<option value="operator_new_payment">New payment notice to you</option>' in page
    response = await post_form(
        console, f"/admin/payments/{payment.id}/resend", kind="operator_new_payment"
    )
    assert (response.status, response.headers["Location"]) == (
        303,
        f"/admin/payments/{payment.id}?done=mail",
    )
    row = await console.server.app[db_key].fetch_one(
        "SELECT status FROM outbox WHERE payment_id = ? AND dedupe_key = ?",
        (payment.id, "operator_new_payment:resend:1"),
    )
    assert row is not None


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("dispute_alert", "the dispute alert was never queued for this payment"),
        ("<script>", "There is no kind of mail called"),
    ],
)
async def test_a_mail_that_cannot_be_sent_again_is_refused_with_why(
    console: TestClient, kind: str, message: str
) -> None:
    payment = await paid_payment(console)
    response = await post_form(console, f"/admin/payments/{payment.id}/resend", kind=kind)
    assert response.status == 409
    assert message in unescape(await response.text())
    assert "<script>" not in await response.text()


async def paid_with_card(client: TestClient, card: str) -> Payment:
    response = await client.post(
        "/api/checkout",
        json={"product": "drop-in-class", "name": "Ada Lovelace", "email": "ada@example.com"},
    )
    assert response.status == 201, await response.text()
    checkout = await response.json()
    status, _, page = await pay_on_hosted_page(checkout["checkout_url"], card=card)
    assert status == 303, page
    return await wait_for_payment(client, checkout["payment_id"], "succeeded")


async def run_sandbox_timers(client: TestClient) -> None:
    """What the sandbox has due within two minutes of Stripe's time happens now (a refund settling)."""
    async with ClientSession() as session:
        response = await session.post(
            str(client.make_url("/_sandbox/_control/timers/run")),
            json={"within": 120},
            headers=SANDBOX_KEY,
        )
        assert response.status == 200, await response.text()


async def wait_for_refund_status(client: TestClient, payment_id: str, status: str) -> Facts:
    async with asyncio.timeout(10):
        while True:
            facts = Facts.from_json((await fetch_payment(client, payment_id)).facts)
            if [r.status for r in facts.refunds.values()] == [status]:
                return facts
            await asyncio.sleep(0.05)


async def test_a_refund_that_fails_later_can_be_asked_for_again(console: TestClient) -> None:
    payment = await paid_with_card(console, "4000000000005126")  # its refunds fail later
    response = await submit(console, payment.id, await confirm_form(console, payment.id))
    assert response.status == 303
    await wait_for_refund_status(console, payment.id, "succeeded")
    refunded = await wait_for_payment(console, payment.id, "refunded")
    assert "Review refund…" not in await (await console.get(f"/admin/payments/{payment.id}")).text()

    await run_sandbox_timers(console)
    facts = await wait_for_refund_status(console, payment.id, "failed")
    [(refund_id, refund)] = facts.refunds.items()
    assert refund.failure_reason
    back = await wait_for_payment(console, payment.id, "succeeded")
    assert back.version > refunded.version
    assert f"refund_failed_operator:{refund_id}" in await outbox_keys(console, payment.id)
    html = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert f'data-refund-failed="{refund_id}"' in html
    assert "data-remaining>€15.00<" in html

    again = await submit(console, payment.id, await confirm_form(console, payment.id))
    assert again.status == 303
    assert len(await sandbox_refunds(console, payment.payment_intent_id or "")) == 2


async def test_a_pending_refund_holds_the_amount_until_it_succeeds(console: TestClient) -> None:
    payment = await paid_with_card(console, "4000000000007726")  # its refunds are pending first
    await submit(console, payment.id, await confirm_form(console, payment.id, amount="5"))
    await wait_for_refund_status(console, payment.id, "pending")
    html = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert "Refund pending: €5.00" in html
    assert "data-remaining>€10.00<" in html  # a pending refund counts: it is on its way
    await run_sandbox_timers(console)
    await wait_for_refund_status(console, payment.id, "succeeded")
    html = await (await console.get(f"/admin/payments/{payment.id}")).text()
    assert "Refund pending" not in html
    assert "data-remaining>€10.00<" in html
