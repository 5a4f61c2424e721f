"""The health page: webhooks arriving or refused, events nobody matched, the mail backlog, test mode."""

from __future__ import annotations

import re
import time

import pytest
from aiohttp.test_utils import TestClient

from server.web.keys import config_key, db_key
from tests.console_helpers import insert_payments, now_ms, payment_row, sign_in, start_console
from tests.stripe_signing import event_body, sign


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    return client


def figure(html: str, attribute: str) -> str:
    found = re.search(attribute + r">([^<]*)<", html)
    assert found, attribute
    return found.group(1)


async def test_a_fresh_install_has_no_webhook_yet(console: TestClient) -> None:
    html = await (await console.get("/admin/health")).text()
    assert "No webhook has arrived yet." in html
    assert "TEST MODE" in html  # the sandbox banner


async def test_health_counts_refused_and_unmatched_webhooks_and_mail_trouble(
    console: TestClient,
) -> None:
    event = {
        "id": "evt_not_ours", "object": "event", "type": "customer.created", "created": int(time.time()),
        "data": {"object": {"object": "customer", "id": "cus_1", "metadata": {}}},
    }  # fmt: skip
    body = event_body(event)
    secret = console.server.app[config_key].webhook_secrets[0]
    headers = {"Content-Type": "application/json"}
    assert (
        await console.post(
            "/webhooks/stripe",
            data=body,
            headers={**headers, "Stripe-Signature": sign(body, "whsec_wrong")},
        )
    ).status == 400
    assert (
        await console.post(
            "/webhooks/stripe",
            data=body,
            headers={**headers, "Stripe-Signature": sign(body, secret)},
        )
    ).status == 200
    await insert_payments(console, [payment_row("pay_mail", created_at=now_ms())])
    stamp, later = now_ms(), now_ms() + 3_600_000  # not due: the mail sender leaves them alone
    await console.server.app[db_key].write(
        lambda conn: conn.executemany(
            "INSERT INTO outbox (payment_id, kind, dedupe_key, status, attempts, next_attempt_at, last_error, created_at)"
            " VALUES ('pay_mail', 'receipt', ?, ?, ?, ?, ?, ?)",
            [
                ("receipt", "failed", 9, later, "550 5.1.1 No such user here", stamp),
                ("k2", "pending", 1, later, "421 Try later", stamp),
                ("k3", "pending", 0, later, None, stamp),
            ],
        )
    )
    html = await (await console.get("/admin/health")).text()
    assert figure(html, "data-rejected") == "1"
    assert "signature does not match (1)" in html
    assert figure(html, "data-unmatched") == "1"
    assert figure(html, "data-ignored") == "0"
    assert "customer.created" in html
    assert "not a paydesk payment" in html
    assert (
        figure(html, "data-mail-queued"),
        figure(html, "data-mail-retrying"),
        figure(html, "data-mail-failed"),
    ) == ("1", "1", "1")
    assert "550 5.1.1 No such user here" in html
    assert "421 Try later" in html
    assert "failed after 9 attempts" in html
    assert "retrying after 1 attempt<" in html  # one attempt, not "1 attempt(s)"
    assert "(s)" not in html


async def test_health_shows_that_the_database_takes_writes_and_its_free_space(
    console: TestClient,
) -> None:
    html = await (await console.get("/admin/health")).text()
    assert figure(html, "data-database") == "Writes are committing."
    assert figure(html, "data-disk-free").endswith(" MB")
    assert "data-disk-low" not in html


async def test_health_warns_when_free_space_runs_low(
    aiohttp_server,
    aiohttp_client,
    app_env: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    # A threshold above any free space a machine has: the card warns, writes go on.
    console = await start_console(
        aiohttp_server, aiohttp_client, app_env, DISK_WARNING_MB="10000000"
    )
    await sign_in(console)
    html = await (await console.get("/admin/health")).text()
    assert "Less than 10000000 MB free beside the database." in html
    assert figure(html, "data-database") == "Writes are committing."
