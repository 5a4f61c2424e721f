"""End to end over HTTP: checkout, the sandbox's hosted page, signed webhooks, and the live socket."""

from __future__ import annotations

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from yarl import URL

from server.config import SANDBOX_SECRET_KEY
from tests.live import next_snapshot, open_live, wait_for_status
from tests.pages import pay_on_hosted_page

ORDER = {
    "product": "drop-in-class",
    "quantity": 1,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
}


async def start(client: TestClient, **order: object) -> dict[str, str]:
    response = await client.post("/api/checkout", json={**ORDER, **order})
    assert response.status == 201, await response.text()
    return await response.json()


async def test_card_payment_is_pushed_to_the_open_status_page(client: TestClient) -> None:
    checkout = await start(client)
    ws = await open_live(client, checkout["payment_id"])
    first = await next_snapshot(ws)
    assert (first["type"], first["payment"]["status"]) == ("payment", "pending")
    status, location, _ = await pay_on_hosted_page(checkout["checkout_url"])
    assert status == 303
    assert location.startswith(checkout["status_url"] + "?session_id=cs_test_")
    paid = await wait_for_status(ws, "succeeded")
    assert paid["version"] > first["version"]
    assert paid["payment"]["view"]["final"] is True
    assert paid["payment"]["next_step"] == {
        "url": "https://harbour-yoga.example/schedule",
        "label": "Book your class",
    }
    page = await (await client.get(URL(location).path_qs)).text()
    assert "Paid" in page
    await ws.close()


async def test_a_decline_is_shown_and_the_same_session_can_be_paid(client: TestClient) -> None:
    checkout = await start(client)
    ws = await open_live(client, checkout["payment_id"])
    await next_snapshot(ws)
    status, location, _ = await pay_on_hosted_page(
        checkout["checkout_url"], card="4000000000000002"
    )
    assert status == 303  # post/redirect/get: a reload shows the decline, it does not pay again
    page = await (await client.get(URL(location).path_qs)).text()
    assert "Your card was declined." in page
    declined = await wait_for_status(ws, "declined")
    assert "declined" in declined["payment"]["view"]["title"].lower()
    assert declined["payment"]["checkout_url"] == checkout["checkout_url"]
    assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
    await wait_for_status(ws, "succeeded")
    await ws.close()


async def test_bank_debit_shows_processing_then_paid(client: TestClient) -> None:
    checkout = await start(client)
    ws = await open_live(client, checkout["payment_id"])
    await next_snapshot(ws)
    async with ClientSession() as browser:
        response = await browser.post(
            checkout["checkout_url"],
            data={
                "payment_method": "sepa_debit",
                "iban": "DE89370400440532013000",
                "account_holder": "Ada Lovelace",
            },
            allow_redirects=False,
        )
        assert response.status == 303
        processing = await wait_for_status(ws, "processing")
        assert "email" in processing["payment"]["view"]["detail"]
        # Settle the debit now rather than after the sandbox's delay.
        await browser.post(
            str(client.make_url("/_sandbox/_control/timers/run")),
            json={"within": 600},
            headers={"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"},
        )
    await wait_for_status(ws, "succeeded")
    await ws.close()


async def test_a_returning_customer_sees_confirming_until_the_webhook_lands(
    client: TestClient,
) -> None:
    checkout = await start(client)
    page = await (
        await client.get(URL(checkout["status_url"]).path + "?session_id=cs_test_x")
    ).text()
    assert "Confirming your payment…" in page
    assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
    ws = await open_live(client, checkout["payment_id"])
    await wait_for_status(ws, "succeeded")
    page = await (
        await client.get(f"/payments/{checkout['payment_id']}?session_id=cs_test_x")
    ).text()
    assert "Confirming" not in page
    assert "Paid" in page
    await ws.close()
