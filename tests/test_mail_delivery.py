"""Delivering the outbox over SMTP: one connection per batch, deferrals, refusals, outages, hangs, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.clock import now_ms
from server.config import SmtpSecurity, load_config
from server.lifecycle import Facts, PaymentMethod, Refund
from server.mail import MailSender, RetryPolicy
from server.mail.compose import Composer, from_address
from server.mail.outbox import OutboxRow
from server.mail.sender import HOLD_LIMIT, HOLD_RECHECK
from server.mail.transport import SmtpTransport
from server.resources import mail_links
from server.web.keys import catalog_key, config_key, db_key
from tests.conftest import free_port
from tests.seed import seed_payment
from tests.smtp_server import HangingServer, SmtpServer, with_mail_sender

FAST = RetryPolicy(base=0.05, cap=0.2, give_up_after=60)
MAIL_FROM = "Harbour Yoga <pay@harbour-yoga.example>"
ADMIN = "owner@harbour-yoga.example"
CUSTOMER = "ada@example.com"
StartSender = Callable[..., Awaitable[MailSender]]


@pytest.fixture
async def client(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    """The real app without a mail sender of its own: each test runs the senders it needs."""
    config = load_config(app_env, env_file=None)
    app = with_mail_sender(await create_app(config), None)
    return await aiohttp_client(await aiohttp_server(app, host=config.host, port=config.port))


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


def make_sender(
    client: TestClient,
    port: int,
    *,
    policy: RetryPolicy = FAST,
    idle: float = 0.5,
    hold: tuple[float, float] = (HOLD_RECHECK, HOLD_LIMIT),
    **settings: Any,
) -> MailSender:
    app = client.server.app
    settings = {"smtp_timeout": 0.5, "admin_emails": (ADMIN,), **settings}
    config = dataclasses.replace(
        app[config_key],
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=SmtpSecurity.NONE,
        mail_from=MAIL_FROM,
        **settings,
    )
    composer = Composer(config, app[catalog_key], mail_links(app))
    transport = SmtpTransport(config, from_address(config, app[catalog_key].shop))
    recheck, limit = hold
    return MailSender(
        app[db_key],
        composer,
        transport,
        policy=policy,
        idle=idle,
        hold_recheck=recheck,
        hold_limit=limit,
    )


@pytest.fixture
async def start_sender(client: TestClient) -> AsyncIterator[StartSender]:
    started: list[MailSender] = []

    async def start(port: int, **options: Any) -> MailSender:
        sender = make_sender(client, port, **options)
        await sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        await sender.stop()


# A paid payment as its events leave it once the charge is in: the card it was paid with.
PAID = Facts(
    seen=frozenset({"charge.succeeded"}),
    paid=True,
    method=PaymentMethod("card", "visa", "4242", 1, "evt_charge"),
)


async def paid_payment(
    client: TestClient, payment_id: str, *, email: str = CUSTOMER, facts: Facts = PAID
) -> None:
    await seed_payment(client, payment_id, email=email, status="succeeded")

    def mark_paid(conn):  # type: ignore[no-untyped-def]
        conn.execute("UPDATE payments SET facts = ? WHERE id = ?", (facts.to_json(), payment_id))

    await client.server.app[db_key].write(mark_paid)


async def enqueue(client: TestClient, payment_id: str, key: str) -> None:
    """Queue a row exactly as the webhook transaction does."""

    def insert(conn):  # type: ignore[no-untyped-def]
        stamp = now_ms()
        conn.execute(
            "INSERT INTO outbox (payment_id, kind, dedupe_key, urgent, next_attempt_at, created_at) VALUES (?, ?, ?, 0, ?, ?)",
            (payment_id, key.partition(":")[0], key, stamp, stamp),
        )

    await client.server.app[db_key].write(insert)


async def rows(client: TestClient) -> list[OutboxRow]:
    found = await client.server.app[db_key].fetch_all("SELECT * FROM outbox ORDER BY id")
    return [OutboxRow.from_row(row) for row in found]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def test_a_batch_goes_over_one_connection(client: TestClient, smtp: SmtpServer) -> None:
    for n in range(5):
        await paid_payment(client, f"pay_batch_{n}")
        await enqueue(client, f"pay_batch_{n}", "receipt")
    assert await make_sender(client, smtp.port).deliver_due() == 5
    assert len(smtp.accepted) == 5
    assert smtp.connections == 1
    assert smtp.envelopes[0] == ("pay@harbour-yoga.example", [CUSTOMER])
    assert len({m["Message-ID"] for m in smtp.accepted}) == 5
    for row in await rows(client):
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.sent_at is not None and row.rendered is not None


@pytest.mark.parametrize(
    "reply", ["451 4.7.1 Greylisted, try again later", "421 4.3.2 Service shutting down"]
)
async def test_a_deferral_is_retried_and_delivered_once(
    client: TestClient, smtp: SmtpServer, start_sender: StartSender, reply: str
) -> None:
    await paid_payment(client, "pay_deferred")
    await enqueue(client, "pay_deferred", "receipt")
    smtp.data_replies.append(reply)
    await start_sender(smtp.port)
    await smtp.wait_for(1)
    await asyncio.sleep(0.4)  # several retry periods: a second copy would have come by now
    assert len(smtp.accepted) == 1
    assert len(smtp.data_attempts) == 2
    # The retry is the same message: a receiver that kept the first attempt can tell.
    assert smtp.data_attempts[0]["Message-ID"] == smtp.data_attempts[1]["Message-ID"]
    [row] = await rows(client)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


@pytest.mark.parametrize(
    ("reply", "sent_in_batch"), [("451 4.7.1 Try again later", 1), ("421 4.3.2 Closing", 0)]
)
async def test_a_deferral_ends_the_batch_only_when_the_server_is_closing(
    client: TestClient, smtp: SmtpServer, reply: str, sent_in_batch: int
) -> None:
    for n in range(2):
        await paid_payment(client, f"pay_batch_{n}")
        await enqueue(client, f"pay_batch_{n}", "receipt")
    smtp.data_replies.append(reply)
    assert await make_sender(client, smtp.port).deliver_due() == 2
    assert (len(smtp.accepted), smtp.connections) == (sent_in_batch, 1)
    first, second = await rows(client)
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, reply)
    assert (second.status, second.attempts) == (("sent", 1) if sent_in_batch else ("pending", 0))
    assert second.next_attempt_at <= now_ms()  # untried: still due, for the next batch


async def test_a_permanent_refusal_is_marked_failed_and_not_retried(
    client: TestClient, smtp: SmtpServer, start_sender: StartSender
) -> None:
    await paid_payment(client, "pay_refused")
    await enqueue(client, "pay_refused", "receipt")
    await enqueue(client, "pay_refused", "operator_new_payment")
    smtp.rcpt_replies[CUSTOMER] = "550 5.1.1 <ada@example.com>: mailbox unavailable"
    await start_sender(smtp.port)
    await smtp.wait_for(1)
    await asyncio.sleep(0.4)
    assert smtp.rcpt_attempts.count(CUSTOMER) == 1
    receipt, notice = await rows(client)
    assert (receipt.status, receipt.attempts) == ("failed", 1)
    assert (
        receipt.last_error is not None
        and "550 5.1.1 <ada@example.com>: mailbox unavailable" in receipt.last_error
    )
    assert notice.status == "sent"


async def test_an_outage_delays_mail_and_loses_none(
    client: TestClient, start_sender: StartSender
) -> None:
    server = SmtpServer()  # not started yet: connections are refused
    for n in range(3):
        await paid_payment(client, f"pay_outage_{n}")
        await enqueue(client, f"pay_outage_{n}", "receipt")
    await start_sender(server.port)

    async def retried() -> bool:
        return all(row.attempts >= 2 for row in await rows(client))

    await eventually(retried)
    assert all(
        "cannot connect" in (row.last_error or "") and row.status == "pending"
        for row in await rows(client)
    )
    await server.start()
    try:
        await server.wait_for(3)
        await asyncio.sleep(0.4)
        assert len(server.accepted) == 3
        assert len({m["Message-ID"] for m in server.accepted}) == 3
        assert {row.status for row in await rows(client)} == {"sent"}
    finally:
        await server.stop()


async def test_retries_stop_when_the_message_is_too_old(
    client: TestClient, start_sender: StartSender
) -> None:
    await paid_payment(client, "pay_given_up")
    await enqueue(client, "pay_given_up", "receipt")
    await start_sender(free_port(), policy=RetryPolicy(base=0.05, cap=0.1, give_up_after=0.3))

    async def failed() -> bool:
        return (await rows(client))[0].status == "failed"

    await eventually(failed)
    [row] = await rows(client)
    assert row.attempts >= 2
    assert row.last_error is not None and row.last_error.startswith(
        f"gave up after {row.attempts} attempts: cannot connect"
    )


async def test_a_silent_server_times_out_and_the_mail_waits(
    client: TestClient, start_sender: StartSender
) -> None:
    server = HangingServer()
    await server.start()
    try:
        await paid_payment(client, "pay_silent")
        await enqueue(client, "pay_silent", "receipt")
        await start_sender(server.port, smtp_timeout=0.2)

        async def attempted() -> bool:
            return (await rows(client))[0].attempts >= 1

        await eventually(attempted)
        [row] = await rows(client)
        assert row.status == "pending"
        assert row.last_error is not None and "Timed out" in row.last_error
    finally:
        await server.stop()


async def test_stopping_mid_send_leaves_the_message_pending_to_send_later(
    client: TestClient, smtp: SmtpServer
) -> None:
    await paid_payment(client, "pay_stopped")
    await enqueue(client, "pay_stopped", "receipt")
    smtp.hang_data = True  # the server has the message but never says it took it
    sender = make_sender(client, smtp.port, smtp_timeout=10)
    await sender.start()

    async def in_data() -> bool:
        return len(smtp.data_attempts) == 1

    await eventually(in_data)
    started = time.monotonic()
    await sender.stop()
    assert time.monotonic() - started < 1
    [row] = await rows(client)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 0, None)
    # The next sender (after a restart) sends it again, as the same message.
    smtp.hang_data = False
    assert await make_sender(client, smtp.port).deliver_due() == 1
    assert smtp.accepted[0]["Message-ID"] == smtp.data_attempts[0]["Message-ID"]


async def test_wake_looks_at_the_outbox_at_once(
    client: TestClient, smtp: SmtpServer, start_sender: StartSender
) -> None:
    sender = await start_sender(smtp.port, idle=30)
    await asyncio.sleep(0.1)  # the sender is asleep with nothing to do
    await paid_payment(client, "pay_woken")
    await enqueue(client, "pay_woken", "receipt")
    sender.wake()
    await smtp.wait_for(1, timeout=1.5)


@pytest.mark.parametrize(
    ("user", "password", "logins"), [("", "", []), ("harbour", "s3cret", [("harbour", "s3cret")])]
)
async def test_the_server_is_logged_in_to_only_with_a_user_name(
    client: TestClient, smtp: SmtpServer, user: str, password: str, logins: list[tuple[str, str]]
) -> None:
    await paid_payment(client, "pay_auth")
    await enqueue(client, "pay_auth", "receipt")
    await make_sender(client, smtp.port, smtp_username=user, smtp_password=password).deliver_due()
    assert len(smtp.accepted) == 1
    assert smtp.logins == logins


async def test_a_row_that_cannot_become_a_message_fails_without_an_attempt(
    client: TestClient, smtp: SmtpServer
) -> None:
    await paid_payment(client, "pay_broken")
    await enqueue(client, "pay_broken", "refund_confirmation:re_not_in_the_facts")
    await make_sender(client, smtp.port).deliver_due()
    [row] = await rows(client)
    assert (row.status, row.attempts) == ("failed", 0)
    assert row.last_error is not None and "no refund 're_not_in_the_facts'" in row.last_error
    assert smtp.connections == 0


async def test_one_refused_operator_address_does_not_hold_up_the_others(
    client: TestClient, smtp: SmtpServer
) -> None:
    await paid_payment(client, "pay_two_admins")
    await enqueue(client, "pay_two_admins", "operator_new_payment")
    smtp.rcpt_replies["gone@harbour-yoga.example"] = "550 5.1.1 no such user"
    await make_sender(
        client, smtp.port, admin_emails=(ADMIN, "gone@harbour-yoga.example")
    ).deliver_due()
    assert smtp.envelopes == [("pay@harbour-yoga.example", [ADMIN])]
    [row] = await rows(client)
    assert row.status == "sent"
    assert (
        row.last_error
        == "delivered, but refused for gone@harbour-yoga.example: 550 5.1.1 no such user"
    )


async def test_a_receipt_whose_charge_never_arrives_goes_out_after_the_wait(
    client: TestClient, smtp: SmtpServer, start_sender: StartSender
) -> None:
    """Paid, but the charge that names the card never came: the receipt waits, then goes out
    without the "Paid with" line; the waiting costs no delivery attempt."""
    await paid_payment(client, "pay_no_charge", facts=Facts(paid=True))
    await enqueue(client, "pay_no_charge", "receipt")
    await start_sender(smtp.port, hold=(0.1, 1.0))

    async def held() -> bool:
        [row] = await rows(client)
        return row.rendered is None and row.next_attempt_at > row.created_at

    await eventually(held)
    [row] = await rows(client)
    assert (row.status, row.attempts) == ("pending", 0)
    [receipt] = await smtp.wait_for(1)
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Your receipt" in str(receipt["Subject"]) and "Paid with" not in text
    await eventually(lambda: _sent_after_one_attempt(client))


async def _sent_after_one_attempt(client: TestClient) -> bool:
    [row] = await rows(client)
    return (row.status, row.attempts) == ("sent", 1)


@pytest.mark.parametrize(
    ("key", "facts"),
    [
        ("receipt", PAID),  # the charge is in
        ("receipt:resend:1", Facts(paid=True)),  # a copy: the original had its wait
        ("refund_confirmation:re_1", Facts(paid=True, refunds={"re_1": Refund(100, "pending")})),
    ],
    ids=["charge in", "a copy", "no payment method in it"],
)
async def test_mail_that_has_nothing_to_wait_for_goes_out_at_once(
    client: TestClient, smtp: SmtpServer, key: str, facts: Facts
) -> None:
    await paid_payment(client, "pay_at_once", facts=facts)
    await enqueue(client, "pay_at_once", key)
    await make_sender(client, smtp.port, hold=(30, 60)).deliver_due()
    assert len(smtp.accepted) == 1
