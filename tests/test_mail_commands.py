"""The `outbox` and `resend PAYMENT_ID` commands: what they print and what they queue."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_config
from server.database_file import NoDatabase
from server.mail.commands import resend_mail, show_outbox
from server.web.keys import config_key, db_key
from tests import lifecycle_events as flows
from tests.seed import seed_payment
from tests.smtp_server import with_mail_sender
from tests.stripe_signing import event_body, sign


@pytest.fixture
async def client(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    """The real app with no mail sender, so queued mail stays queued for the commands to see."""
    config = load_config(app_env, env_file=None)
    app = with_mail_sender(await create_app(config), None)
    return await aiohttp_client(await aiohttp_server(app, host=config.host, port=config.port))


@pytest.fixture
async def paid(client: TestClient) -> TestClient:
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    event = flows.card_success(flows.Stripe("hand-built"))[-1]
    body = event_body(event)
    secret = client.server.app[config_key].webhook_secrets[0]
    response = await client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body, secret)}
    )
    assert response.status == 200
    return client


async def outbox_keys(client: TestClient) -> list[str]:
    rows = await client.server.app[db_key].fetch_all("SELECT dedupe_key FROM outbox ORDER BY id")
    return [row["dedupe_key"] for row in rows]


async def fail(client: TestClient, key: str, error: str) -> None:
    def work(conn: Any) -> None:
        conn.execute(
            "UPDATE outbox SET status = 'failed', attempts = 1, last_error = ? WHERE dedupe_key = ?",
            (error, key),
        )

    await client.server.app[db_key].write(work)


async def test_outbox_lists_pending_and_failed_mail(
    paid: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await fail(paid, "receipt", "550 5.1.1 <ada@example.com>: mailbox unavailable")
    assert await show_outbox(paid.server.app[config_key]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "1 pending, 1 failed"
    assert lines[2].split() == [
        "ID",
        "PAYMENT",
        "KIND",
        "STATUS",
        "ATTEMPTS",
        "NEXT",
        "ATTEMPT",
        "LAST",
        "ERROR",
    ]
    notice = next(line for line in lines if "operator_new_payment" in line)
    receipt = next(line for line in lines if "receipt" in line and "operator" not in line)
    assert notice.split()[:5] == ["1", flows.PAYMENT_ID, "operator_new_payment", "pending", "0"]
    assert "UTC" in notice
    assert receipt.split()[:6] == ["2", flows.PAYMENT_ID, "receipt", "failed", "1", "-"]
    assert receipt.endswith("550 5.1.1 <ada@example.com>: mailbox unavailable")


async def test_an_empty_outbox_says_so(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await show_outbox(client.server.app[config_key]) == 0
    assert (
        capsys.readouterr().out == "No pending or failed mail: everything queued has been sent.\n"
    )


async def test_resend_queues_another_copy_each_time(
    paid: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    config = paid.server.app[config_key]
    assert await resend_mail(config, flows.PAYMENT_ID, "receipt") == 0
    # One copy waits at a time, as in the console: impatience sends one.
    assert await resend_mail(config, flows.PAYMENT_ID, "receipt") == 1
    assert "A copy of the receipt is already waiting to be sent." in capsys.readouterr().err
    await paid.server.app[db_key].write(
        lambda conn: conn.execute(
            "UPDATE outbox SET status = 'sent' WHERE dedupe_key = 'receipt:resend:1'"
        )
    )
    assert await resend_mail(config, flows.PAYMENT_ID, "receipt") == 0
    assert await outbox_keys(paid) == [
        "operator_new_payment",
        "receipt",
        "receipt:resend:1",
        "receipt:resend:2",
    ]
    out = capsys.readouterr().out
    assert (
        f"Queued a copy of the receipt for {flows.PAYMENT_ID} to ada@example.com (outbox 4, receipt:resend:2)"
        in out
    )


@pytest.mark.parametrize(
    ("payment_id", "message"),
    [
        ("pay_nobody_has", "resend: There is no payment pay_nobody_has.\n"),
        ("pay_not_paid", "resend: A receipt is only sent for a paid payment.\n"),
    ],
)
async def test_resend_refuses_what_has_no_receipt(
    client: TestClient, capsys: pytest.CaptureFixture[str], payment_id: str, message: str
) -> None:
    await seed_payment(client, "pay_not_paid")
    assert await resend_mail(client.server.app[config_key], payment_id, "receipt") == 1
    assert capsys.readouterr().err == message
    assert await outbox_keys(client) == []


async def test_commands_need_the_database(client: TestClient, tmp_path: Any) -> None:
    missing = tmp_path / "missing.db"
    config = dataclasses.replace(client.server.app[config_key], database_path=missing)
    with pytest.raises(NoDatabase, match=re.escape(f"no database at {missing}")):
        await show_outbox(config)
    with pytest.raises(NoDatabase, match=re.escape(f"no database at {missing}")):
        await resend_mail(config, flows.PAYMENT_ID, "receipt")
    assert not missing.exists()


async def post_flow(client: TestClient, events: list[dict[str, Any]]) -> None:
    secret = client.server.app[config_key].webhook_secrets[0]
    for event in events:
        body = event_body(event)
        response = await client.post(
            "/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body, secret)}
        )
        assert response.status == 200, await response.text()


@pytest.fixture
async def disputed(client: TestClient) -> TestClient:
    await seed_payment(client, flows.PAYMENT_ID, session_id=flows.SESSION_ID, amount=flows.AMOUNT)
    await post_flow(client, flows.dispute_won(flows.Stripe("hand-built")))
    return client


async def test_a_refused_dispute_alert_can_be_sent_again(
    disputed: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 5xx marks a mail failed at once: the operator must still be able to get the alert."""
    [alert] = [key for key in await outbox_keys(disputed) if key.startswith("dispute_alert")]
    dispute_id = alert.partition(":")[2]
    await fail(disputed, alert, "554 5.7.1 Message refused")
    config = disputed.server.app[config_key]
    assert await resend_mail(config, flows.PAYMENT_ID, "dispute_alert") == 0
    copy = f"dispute_alert.resend.1:{dispute_id}"
    assert copy in await outbox_keys(disputed)
    # The copy names the same dispute after its first colon, as the message needs.
    assert copy.partition(":")[2] == dispute_id
    row = await disputed.server.app[db_key].fetch_one(
        "SELECT kind, status, urgent FROM outbox WHERE dedupe_key = ?", (copy,)
    )
    assert row is not None
    assert tuple(row) == ("dispute_alert", "pending", 1)
    assert f"Queued a copy of the dispute alert for {flows.PAYMENT_ID} (outbox" in (
        capsys.readouterr().out
    )
    assert await resend_mail(config, flows.PAYMENT_ID, "dispute_alert") == 1
    assert "A copy of the dispute alert is already waiting to be sent." in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "refund_confirmation",
            "resend: No copy can be sent: the refund confirmation was never queued for this payment.\n",
        ),
        ("postcard", "resend: There is no kind of mail called 'postcard'; use one of: receipt,"),
    ],
)
async def test_resend_refuses_a_kind_never_queued(
    paid: TestClient, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    before = await outbox_keys(paid)
    assert await resend_mail(paid.server.app[config_key], flows.PAYMENT_ID, kind) == 1
    assert capsys.readouterr().err.startswith(message)
    assert await outbox_keys(paid) == before
