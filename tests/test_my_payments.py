"""'My payments': a one-time sign-in link by mail opens one email's payments, and nothing else."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.my_payments import SlidingLimit
from server.web.keys import db_key
from tests import lifecycle_events as flows
from tests.conftest import free_port
from tests.seed import seed_payment
from tests.smtp_server import SmtpServer
from tests.test_console_access import shared_postgresql_url
from tests.test_notify import paid_flow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"(http://\S+/my-payments/link/[A-Za-z0-9_-]+)")


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def shop(make_client: Any, smtp: SmtpServer) -> TestClient:
    return await make_client(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_SECURITY="none")


async def csrf(client: TestClient, path: str = "/my-payments") -> str:
    response = await client.get(path)
    match = CSRF.search(await response.text())
    assert match, await response.text()
    return match.group(1)


async def ask(client: TestClient, email: str) -> tuple[int, str]:
    token = await csrf(client)
    response = await client.post("/my-payments", data={"csrf_token": token, "email": email})
    return response.status, await response.text()


async def link_from_mail(smtp: SmtpServer, count: int) -> str:
    """The link in the `count`th sign-in mail (other mail, like receipts, may come in between)."""
    async with asyncio.timeout(10):
        while True:
            links = [m for m in smtp.accepted if "link to your payments" in str(m["Subject"])]
            if len(links) >= count:
                break
            await smtp.wait_for(len(smtp.accepted) + 1, timeout=10)
    body = links[count - 1].get_body(preferencelist=("plain",))
    assert body is not None
    match = LINK.search(body.get_content())
    assert match, body.get_content()
    return match.group(1)


async def open_link(client: TestClient, link: str) -> Any:
    path = "/my-payments/" + link.split("/my-payments/", 1)[1]
    token = await csrf(client, path)
    return await client.post(path, data={"csrf_token": token}, allow_redirects=False)


async def test_the_link_opens_that_emails_payments_and_no_others(
    shop: TestClient, smtp: SmtpServer
) -> None:
    await seed_payment(shop, "pay_ada_first_payment_xx", email="ada@example.com")
    await seed_payment(shop, "pay_ada_other_payment_xx", email="ADA@example.com")
    await seed_payment(shop, "pay_bob_payment_xxxxxxxx", email="bob@example.com")
    status, page = await ask(shop, "ada@example.com")
    assert status == 200 and "we sent a sign-in link" in page
    link = await link_from_mail(smtp, 1)
    assert smtp.accepted[0]["To"] == "ada@example.com"
    response = await open_link(shop, link)
    assert response.status == 303
    listing = await (await shop.get(response.headers["Location"])).text()
    assert "pay_ada_firs" in listing and "pay_ada_othe" in listing  # the address without case
    assert "pay_bob_paym" not in listing


async def test_the_answer_is_the_same_whether_or_not_the_email_has_payments(
    shop: TestClient, smtp: SmtpServer
) -> None:
    await seed_payment(shop, "pay_ada_first_payment_xx", email="ada@example.com")
    _, with_payments = await ask(shop, "ada@example.com")
    _, without = await ask(shop, "nobody@example.com")
    assert with_payments.replace("ada@example.com", "X") == without.replace(
        "nobody@example.com", "X"
    )
    await smtp.wait_for(2, timeout=10)  # a link goes out either way: no timing tells them apart
    response = await open_link(shop, await link_from_mail(smtp, 2))
    listing = await (await shop.get(response.headers["Location"])).text()
    assert "There are no payments for this address" in listing


async def test_a_used_expired_or_unknown_link_says_so_and_offers_a_new_one(
    shop: TestClient, smtp: SmtpServer
) -> None:
    await ask(shop, "ada@example.com")
    link = await link_from_mail(smtp, 1)
    assert (await open_link(shop, link)).status == 303
    again = await shop.get("/my-payments/" + link.split("/my-payments/", 1)[1])
    assert again.status == 410
    text = await again.text()
    assert "already used" in text and 'id="send-link"' in text

    await ask(shop, "ada@example.com")
    stale = await link_from_mail(smtp, 2)
    await shop.server.app[db_key].write(
        lambda conn: conn.execute("UPDATE customer_links SET expires_at = 0 WHERE used_at IS NULL")
    )
    response = await open_link(shop, stale)
    assert response.status == 410 and "has expired" in await response.text()

    unknown = await shop.get("/my-payments/link/" + "x" * 43)
    assert unknown.status == 404 and "not one of ours" in await unknown.text()


async def test_tokens_are_stored_hashed(shop: TestClient, smtp: SmtpServer) -> None:
    await ask(shop, "ada@example.com")
    token = (await link_from_mail(smtp, 1)).rsplit("/", 1)[1]
    stored = await shop.server.app[db_key].fetch_all("SELECT token_hash FROM customer_links")
    assert [len(row[0]) for row in stored] == [64] and token not in stored[0][0]


async def test_links_are_limited_per_address_and_per_client(
    shop: TestClient, smtp: SmtpServer
) -> None:
    for _ in range(3):
        assert (await ask(shop, "ada@example.com"))[0] == 200
    status, page = await ask(shop, "Ada@Example.com")
    assert status == 429 and "Too many sign-in links" in page
    for number in range(7):
        assert (await ask(shop, f"person{number}@example.com"))[0] == 200
    assert (await ask(shop, "one-more@example.com"))[0] == 429  # 10 from this client


def test_the_sliding_limit_forgets_after_its_window() -> None:
    limit = SlidingLimit(2, window_s=60)
    limit.note("a", 0)
    limit.note("a", 10)
    assert limit.wait_s("a", 20) == 40
    assert limit.wait_s("a", 60.5) == 0


@pytest.mark.parametrize(("email", "message"), [("", "Enter the email"), ("ada", "like name@")])
async def test_a_wrong_address_is_answered_beside_the_box(
    shop: TestClient, email: str, message: str
) -> None:
    status, page = await ask(shop, email)
    assert status == 400 and message in page and 'aria-invalid="true"' in page
    assert await shop.server.app[db_key].fetch_all("SELECT 1 FROM customer_links") == []


async def test_signed_out_the_list_leads_back_to_the_form(shop: TestClient) -> None:
    response = await shop.get("/my-payments/list", allow_redirects=False)
    assert response.status == 303 and "signed_out" in response.headers["Location"]


async def test_the_receipt_is_sent_again_for_ones_own_payment_only(
    shop: TestClient, smtp: SmtpServer
) -> None:
    await paid_flow(shop, flows.card_success)  # ada@example.com, paid: its receipt is queued
    await seed_payment(shop, "pay_bob_payment_xxxxxxxx", email="bob@example.com")
    await seed_payment(shop, "pay_ada_unpaid_payment_x", email="ada@example.com")
    await ask(shop, "ada@example.com")
    link = await link_from_mail(smtp, 1)
    response = await open_link(shop, link)
    listing = await (await shop.get(response.headers["Location"])).text()
    assert "Send the receipt again" in listing
    token = CSRF.search(listing).group(1)  # type: ignore[union-attr]
    sent = await shop.post(
        "/my-payments/receipt",
        data={"csrf_token": token, "payment": flows.PAYMENT_ID},
        allow_redirects=False,
    )
    assert sent.status == 303
    keys = await shop.server.app[db_key].fetch_all(
        "SELECT dedupe_key FROM outbox WHERE payment_id = ? AND kind = 'receipt'",
        (flows.PAYMENT_ID,),
    )
    assert [row[0] for row in keys] == ["receipt", "receipt:resend:1"]
    unpaid = await shop.post(
        "/my-payments/receipt",
        data={"csrf_token": token, "payment": "pay_ada_unpaid_payment_x"},
        allow_redirects=False,
    )
    assert unpaid.status == 409
    assert "only sent for a paid payment" in await unpaid.text()
    other = await shop.post(
        "/my-payments/receipt",
        data={"csrf_token": token, "payment": "pay_bob_payment_xxxxxxxx"},
        allow_redirects=False,
    )
    assert other.status == 404


async def test_the_pay_page_and_the_receipt_link_to_find_my_payments(
    shop: TestClient, smtp: SmtpServer
) -> None:
    page = await (await shop.get("/")).text()
    assert 'href="/my-payments"' in page
    await paid_flow(shop, flows.card_success)
    receipts: list[Any] = []
    async with asyncio.timeout(10):
        while not receipts:
            receipts = [m for m in smtp.accepted if "receipt" in str(m["Subject"]).lower()]
            await asyncio.sleep(0.05)
    text = receipts[0].get_body(preferencelist=("plain",)).get_content()
    assert f"Find my payments: {shop.make_url('/my-payments')}" in text


async def test_with_several_processes_the_link_limits_are_shared(
    make_client: Any, smtp: SmtpServer
) -> None:
    postgresql_url = shared_postgresql_url()
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "DATABASE_URL": postgresql_url,
    }
    a = await make_client(**env)
    b = await make_client(**env, PORT=str(free_port()))
    # Three links an hour for one address, whichever process is asked.
    statuses = [(await ask(client, "ada@example.com"))[0] for client in (a, b, a, b)]
    assert statuses == [200, 200, 200, 429]
    # Ten from one client in all: three taken above (the refused ask took none), seven to go.
    addresses = [f"reader{n}@example.com" for n in range(8)]
    statuses = [(await ask((a, b)[n % 2], email))[0] for n, email in enumerate(addresses)]
    assert statuses == [200] * 7 + [429]
    rows = await a.server.app[db_key].fetch_all("SELECT client FROM shared_limits")
    assert not any("@" in row["client"] for row in rows)  # addresses are kept as digests
