"""Mail through the real app: signed webhooks in, the right messages out, once, whatever the mail server does."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_config
from server.mail import RetryPolicy
from server.mail.commands import resend_mail
from server.payments import payment_reference
from server.resources import mail_sender_context
from server.web.keys import config_key, db_key, mail_sender_key
from tests import lifecycle_events as flows
from tests.console_helpers import post_form, sign_in
from tests.live import next_snapshot
from tests.pages import pay_on_hosted_page
from tests.seed import seed_payment
from tests.smtp_server import HangingServer, SmtpServer, with_mail_sender
from tests.stripe_signing import event_body, sign

FAST = RetryPolicy(base=0.05, cap=0.2, give_up_after=60)
ADMIN = "owner@harbour-yoga.example"
CUSTOMER = "ada@example.com"
ADA = "Ada Lovelace <ada@example.com>"
StartPaydesk = Callable[..., Awaitable[TestClient]]


def smtp_env(port: int) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "Harbour Yoga <pay@harbour-yoga.example>",
        "ADMIN_EMAIL": ADMIN,
    }


@pytest.fixture
def start_paydesk(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> StartPaydesk:  # type: ignore[no-untyped-def]
    """The real app with a mail sender that retries in milliseconds instead of minutes. It polls
    only every 30 s, so mail that arrives within a test's seconds shows the sender was woken."""

    async def start(*, smtp_timeout: float = 0.5, **env: str) -> TestClient:
        config = load_config({**app_env, **env}, env_file=None)
        config = dataclasses.replace(config, smtp_timeout=smtp_timeout)
        app = with_mail_sender(await create_app(config), mail_sender_context(policy=FAST, idle=30))
        return await aiohttp_client(await aiohttp_server(app, host=config.host, port=config.port))

    return start


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


async def post(client: TestClient, event: dict[str, Any]) -> None:
    """Deliver a signed event. Nothing here wakes the mail sender: paydesk does, after the commit."""
    body = event_body(event)
    secret = client.server.app[config_key].webhook_secrets[0]
    response = await client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"},
    )
    assert response.status == 200, await response.text()


async def seed_flow_payment(client: TestClient) -> None:
    """The payment the hand-built Stripe flows are about, for CUSTOMER."""
    await seed_payment(
        client,
        flows.PAYMENT_ID,
        session_id=flows.SESSION_ID,
        intent_id=flows.PI_ID,
        amount=flows.AMOUNT,
        email=CUSTOMER,
    )


async def pay(client: TestClient, flow: flows.Flow = flows.card_success) -> list[dict[str, Any]]:
    await seed_flow_payment(client)
    events = flow(flows.Stripe("hand-built"))
    for event in events:
        await post(client, event)
    return events


async def outbox(client: TestClient) -> list[Any]:
    return await client.server.app[db_key].fetch_all("SELECT * FROM outbox ORDER BY id")


async def until_outbox(
    client: TestClient, check: Callable[[list[Any]], bool], timeout: float = 5.0
) -> list[Any]:
    """The outbox rows once `check` holds for them (a row is marked just after the server takes it)."""
    async with asyncio.timeout(timeout):
        while not check(rows := await outbox(client)):
            await asyncio.sleep(0.02)
    return rows


def summary(messages: list[email.message.EmailMessage]) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in messages)


# The app runs on the sandbox, so every subject says the mail is about a test payment.
REF = payment_reference(flows.PAYMENT_ID)
RECEIPT = (ADA, f"[TEST] Your receipt from Harbour Yoga Studio — €25.00 (ref. {REF})")
NOTICE = (ADMIN, "[TEST] New payment: €25.00 from Ada Lovelace — Support the studio")
PROCESSING = (
    ADA,
    f"[TEST] Your bank payment of €25.00 to Harbour Yoga Studio is processing (ref. {REF})",
)
FAILED = (
    ADA,
    f"[TEST] Your bank payment of €25.00 to Harbour Yoga Studio did not go through (ref. {REF})",
)
FAILED_NOTICE = (
    ADMIN,
    "[TEST] Bank payment failed: €25.00 from Ada Lovelace — Support the studio",
)
DISPUTE = (
    ADMIN,
    "[TEST] URGENT: dispute opened on payment of €25.00 from Ada Lovelace — respond by 21 Nov",
)
DISPUTE_WON = (ADMIN, "[TEST] Dispute won: €25.00 from Ada Lovelace — Support the studio")
DISPUTE_LOST = (ADMIN, "[TEST] Dispute lost: €25.00 from Ada Lovelace — Support the studio")
FLOW_MAIL = {
    "card success": (flows.card_success, [RECEIPT, NOTICE]),
    "bank payment that succeeds": (flows.async_success, [RECEIPT, NOTICE, PROCESSING]),
    "bank payment that fails": (flows.async_failure, [FAILED, FAILED_NOTICE, PROCESSING]),
    "two refunds": (
        flows.partial_then_full_refund,
        [
            RECEIPT,
            (ADA, f"[TEST] Refund of €10.00 from Harbour Yoga Studio (ref. {REF})"),
            (ADA, f"[TEST] Refund of €15.00 from Harbour Yoga Studio (ref. {REF})"),
            NOTICE,
        ],
    ),
    "dispute lost": (flows.dispute_lost, [DISPUTE, RECEIPT, NOTICE, DISPUTE_LOST]),
    "dispute won": (flows.dispute_won, [DISPUTE, RECEIPT, NOTICE, DISPUTE_WON]),
}


@pytest.mark.parametrize("case", FLOW_MAIL, ids=list(FLOW_MAIL))
async def test_a_payment_sends_the_right_mail_to_the_right_people(
    start_paydesk: StartPaydesk, smtp: SmtpServer, case: str
) -> None:
    flow, expected = FLOW_MAIL[case]
    client = await start_paydesk(**smtp_env(smtp.port))
    await pay(client, flow)
    messages = await smtp.wait_for(len(expected))
    assert summary(messages) == sorted(expected)
    for message in messages:
        urgent = "URGENT:" in message["Subject"]
        assert (message["X-Priority"] == "1") is urgent


async def test_duplicate_and_replayed_webhooks_send_one_receipt(
    start_paydesk: StartPaydesk, smtp: SmtpServer
) -> None:
    client = await start_paydesk(**smtp_env(smtp.port))
    events = await pay(client)
    await asyncio.gather(*(post(client, events[-1]) for _ in range(5)))  # Stripe retrying at once
    for event in events:  # and a replay of the whole flow
        await post(client, event)
    await smtp.wait_for(2)
    await asyncio.sleep(0.3)
    assert summary(smtp.accepted) == sorted([RECEIPT, NOTICE])
    assert [row["status"] for row in await outbox(client)] == ["sent", "sent"]  # and no third row


async def test_an_explicit_resend_is_the_one_way_to_a_second_receipt(
    start_paydesk: StartPaydesk, smtp: SmtpServer
) -> None:
    client = await start_paydesk(**smtp_env(smtp.port))
    await pay(client)
    await smtp.wait_for(2)
    assert await resend_mail(client.server.app[config_key], flows.PAYMENT_ID, "receipt") == 0
    client.server.app[mail_sender_key].wake()  # a separate process cannot; the sender polls too
    await smtp.wait_for(3)
    receipts = [m for m in smtp.accepted if str(m["Subject"]).startswith("[TEST] Your receipt")]
    assert len(receipts) == 2 and len(smtp.accepted) == 3
    assert receipts[0]["Message-ID"] != receipts[1]["Message-ID"]


async def test_a_receipt_resent_from_the_console_goes_out_at_once(
    start_paydesk: StartPaydesk, smtp: SmtpServer
) -> None:
    """The sender polls only every 30 s here: the copy arrives because the resend woke it."""
    client = await start_paydesk(**smtp_env(smtp.port))
    await pay(client)
    await smtp.wait_for(2)
    await sign_in(client)
    response = await post_form(client, f"/admin/payments/{flows.PAYMENT_ID}/resend")
    assert response.status == 303
    await smtp.wait_for(3, timeout=10)
    assert str(smtp.accepted[-1]["Subject"]).startswith("[TEST] Your receipt")


async def test_mail_keeps_flowing_while_requests_never_stop(start_paydesk: StartPaydesk) -> None:
    """Mail makes way for requests (it is paced while they arrive) but is not starved by them."""
    smtp = SmtpServer()
    await smtp.start()
    try:
        client = await start_paydesk(**smtp_env(smtp.port))
        stop = asyncio.Event()
        answered = 0

        async def keep_asking() -> None:
            nonlocal answered
            while not stop.is_set():
                assert (await client.get("/healthz")).status == 200
                answered += 1

        askers = [asyncio.create_task(keep_asking()) for _ in range(4)]
        try:
            await pay(client)
            await smtp.wait_for(2, timeout=10)  # receipt and operator notice
            still_asking = answered
            await asyncio.sleep(0.05)
            assert answered > still_asking  # the requests never paused for the mail
        finally:
            stop.set()
            await asyncio.gather(*askers)
    finally:
        await smtp.stop()


async def test_a_hanging_mail_server_does_not_hold_up_payments(start_paydesk: StartPaydesk) -> None:
    server = HangingServer()
    await server.start()
    try:
        client = await start_paydesk(smtp_timeout=5, **smtp_env(server.port))
        await seed_payment(
            client,
            flows.PAYMENT_ID,
            session_id=flows.SESSION_ID,
            intent_id=flows.PI_ID,
            amount=flows.AMOUNT,
        )
        ws = await client.ws_connect(f"/payments/{flows.PAYMENT_ID}/live")
        assert (await next_snapshot(ws, timeout=2))["payment"]["status"] == "pending"
        events = flows.partial_then_full_refund(flows.Stripe("hand-built"))
        for event in events[:3]:  # paid: the receipt sends the sender to the silent server
            await post(client, event)
        async with asyncio.timeout(3):
            while server.connections < 1:
                await asyncio.sleep(0.01)
        started = time.monotonic()
        for event in events[3:]:  # refunded, while the sender waits up to 5 s on the server
            await post(client, event)
        frame = await next_snapshot(ws, timeout=2)
        while frame["payment"]["status"] != "refunded":
            frame = await next_snapshot(ws, timeout=2)
        assert time.monotonic() - started < 2
        assert server.connections == 1  # still the same stuck connection
        assert {row["status"] for row in await outbox(client)} == {"pending"}
        await ws.close()
        started = time.monotonic()
        await client.close()  # shutting down does not wait for the silent server either
        assert time.monotonic() - started < 2
    finally:
        await server.stop()


async def test_pending_mail_is_sent_after_a_restart(start_paydesk: StartPaydesk) -> None:
    server = SmtpServer()  # down for now
    client = await start_paydesk(**smtp_env(server.port))
    await pay(client)

    rows = await until_outbox(
        client, lambda rows: len(rows) == 2 and all(row["attempts"] >= 1 for row in rows)
    )
    message_ids = sorted(row["message_id"] for row in rows)
    await client.close()

    await server.start()
    try:
        client = await start_paydesk(**smtp_env(server.port))
        await server.wait_for(2)
        assert sorted(m["Message-ID"] for m in server.accepted) == message_ids
        await until_outbox(client, lambda rows: {row["status"] for row in rows} == {"sent"})
    finally:
        await server.stop()


async def test_without_smtp_host_mail_is_written_to_a_folder(
    start_paydesk: StartPaydesk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "mail"
    caplog.set_level(logging.INFO, logger="server.mail")
    client = await start_paydesk(MAIL_DIR=str(folder), ADMIN_EMAIL=ADMIN)
    await pay(client)
    async with asyncio.timeout(5):
        while len(list(folder.glob("*.eml"))) < 2:
            await asyncio.sleep(0.02)
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]
    assert summary(messages) == sorted([RECEIPT, NOTICE])  # type: ignore[arg-type]
    for message in messages:
        assert message["Message-ID"] and message["Date"]
        assert message["From"] == "Harbour Yoga Studio <hello@harbour-yoga.example>"
        assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
    assert not list(folder.glob("*.part"))
    said = [r.getMessage() for r in caplog.records if "SMTP_HOST" in r.getMessage()]
    assert said == [
        f"mail: no SMTP_HOST set, so nothing is sent; messages are written as .eml files to {folder}"
    ]


async def test_a_card_payment_through_the_sandbox_mails_receipt_and_notice(
    start_paydesk: StartPaydesk, smtp: SmtpServer
) -> None:
    client = await start_paydesk(**smtp_env(smtp.port))
    checkout = await (
        await client.post(
            "/api/checkout",
            json={
                "product": "drop-in-class",
                "quantity": 2,
                "name": "Ada Lovelace",
                "email": CUSTOMER,
            },
        )
    ).json()
    assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
    messages = await smtp.wait_for(2)
    ref = payment_reference(checkout["payment_id"])
    assert summary(messages) == sorted(
        [
            (ADA, f"[TEST] Your receipt from Harbour Yoga Studio — €30.00 (ref. {ref})"),
            (ADMIN, "[TEST] New payment: €30.00 from Ada Lovelace — Drop-in class"),
        ]
    )
    receipt = next(m for m in messages if m["To"] == ADA)
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert checkout["status_url"] in text
    assert "https://harbour-yoga.example/schedule" in text  # the product's next step
    # What the sandbox's charge said about the card, as Stripe says it.
    assert "Paid with:            Visa ending in 4242" in text.splitlines()
    assert f"Payment reference:    {ref}" in text.splitlines()
    assert "TEST MODE: this message is about a test payment." in text


def with_card(event: dict[str, Any]) -> dict[str, Any]:
    """A charge event that says which card paid, as Stripe's does."""
    details = {"type": "card", "card": {"brand": "visa", "last4": "4242"}}
    event["data"]["object"]["payment_method_details"] = details
    return event


async def test_a_receipt_waits_for_a_charge_that_arrives_after_the_payment_turned_paid(
    start_paydesk: StartPaydesk, smtp: SmtpServer
) -> None:
    """Stripe may send the PaymentIntent and the session before the charge that names the card."""
    client = await start_paydesk(**smtp_env(smtp.port))
    await seed_flow_payment(client)
    stripe = flows.Stripe("hand-built")
    charge = with_card(stripe.charge_succeeded())
    for event in (stripe.pi_created(), stripe.pi_succeeded(), stripe.completed("paid")):
        await post(client, event)
    # Paid, and its mail looked at and put back: not rendered, no attempt counted.
    held = await until_outbox(
        client,
        lambda rows: (
            len(rows) == 2 and all(row["next_attempt_at"] > row["created_at"] for row in rows)
        ),
    )
    assert [(row["status"], row["attempts"], row["message"]) for row in held] == [
        ("pending", 0, None)
    ] * 2
    assert smtp.accepted == []
    await post(client, charge)
    messages = await smtp.wait_for(2)
    assert summary(messages) == sorted([RECEIPT, NOTICE])
    for message in messages:
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Visa ending in 4242" in text
    rows = await until_outbox(client, lambda rows: {row["status"] for row in rows} == {"sent"})
    assert [row["attempts"] for row in rows] == [1, 1]


async def test_with_smtp_host_and_no_mail_from_mail_comes_from_the_shop(
    start_paydesk: StartPaydesk, smtp: SmtpServer
) -> None:
    env = {k: v for k, v in smtp_env(smtp.port).items() if k != "MAIL_FROM"}
    client = await start_paydesk(**env)
    await pay(client)
    messages = await smtp.wait_for(2)
    for message in messages:
        assert message["From"] == "Harbour Yoga Studio <hello@harbour-yoga.example>"
        assert message["Message-ID"].endswith("@harbour-yoga.example>")
    # The envelope sender too: bounces reach the shop, not a made-up localhost address.
    assert {sender for sender, _ in smtp.envelopes} == {"hello@harbour-yoga.example"}
