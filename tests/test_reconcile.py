"""`paydesk reconcile`: Stripe events that never arrived as webhooks, fetched from a standalone sandbox and applied once."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from server import reconcile
from server.cli import main
from server.config import Config, load_config
from server.db import Database
from server.lifecycle import HANDLED_TYPES
from server.reconcile import STRIPE_KEEPS_S, choose_window, parse_duration
from server.reconcile.commands import run_reconcile
from server.storage import open_database
from server.web.keys import db_key
from tests.conftest import MakeClient, free_port, wait_until_ok
from tests.pages import pay_on_hosted_page
from tests.standalone import standalone_sandbox

WHSEC = "whsec_reconcile_test"
KEY = "sk_test_reconcile"
AUTH = {"Authorization": f"Bearer {KEY}"}


def sandbox_delivering_to(webhook_url: str, *flags: str) -> AbstractContextManager[str]:
    """A standalone sandbox that signs with WHSEC and retries fast (0.2 s, at most 0.5 s apart)."""
    return standalone_sandbox(
        *("--webhook-url", webhook_url, "--webhook-secret", WHSEC),
        *("--retry-base-delay", "0.2", "--retry-max-delay", "0.5", *flags),
        secret_key=KEY,
    )


@pytest.fixture
async def unheard() -> Any:
    """A sandbox whose webhooks go to a port nobody listens on: nothing ever arrives."""
    with sandbox_delivering_to(f"http://127.0.0.1:{free_port()}/webhooks/stripe") as url:
        await wait_until_ok(url + "/v1/events", AUTH)
        yield url


@pytest.fixture
async def heard(app_env: dict[str, str]) -> Any:
    """A sandbox whose webhooks go to paydesk's port (retried while paydesk is down)."""
    with sandbox_delivering_to(f"http://127.0.0.1:{app_env['PORT']}/webhooks/stripe") as url:
        await wait_until_ok(url + "/v1/events", AUTH)
        yield url


def settings(sandbox: str) -> dict[str, str]:
    return {
        "STRIPE_API_BASE": sandbox,
        "STRIPE_SECRET_KEY": KEY,
        "STRIPE_WEBHOOK_SECRET": WHSEC,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
    }


def config_for(app_env: dict[str, str], sandbox: str) -> Config:
    return load_config({**app_env, **settings(sandbox)}, env_file=None)


async def pay(client: TestClient) -> str:
    """A checkout paid by card on the sandbox's page; the payment id."""
    checkout = await (
        await client.post(
            "/api/checkout",
            json={"product": "drop-in-class", "name": "Ada", "email": "ada@example.com"},
        )
    ).json()
    assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
    return str(checkout["payment_id"])


async def refund_all(sandbox: str) -> None:
    async with ClientSession(headers=AUTH) as stripe:
        sessions = await (await stripe.get(sandbox + "/v1/checkout/sessions")).json()
        intent = sessions["data"][0]["payment_intent"]
        answer = await stripe.post(sandbox + "/v1/refunds", data={"payment_intent": intent})
        assert answer.status == 200, await answer.text()


async def all_delivered(sandbox: str, timeout: float = 20) -> None:
    """Until the sandbox has no webhook left to deliver."""
    async with ClientSession(headers=AUTH) as stripe, asyncio.timeout(timeout):
        while True:
            events = await (await stripe.get(sandbox + "/v1/events?limit=100")).json()
            if all(event["pending_webhooks"] == 0 for event in events["data"]):
                return
            await asyncio.sleep(0.1)


async def status(db: Database, payment_id: str) -> str:
    row = await db.fetch_one("SELECT status FROM payments WHERE id = ?", (payment_id,))
    assert row is not None
    return str(row[0])


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await db.fetch_all(sql)]


MAIL = "SELECT payment_id, dedupe_key FROM outbox ORDER BY id"
_HANDLED = ", ".join(f"'{kind}'" for kind in sorted(HANDLED_TYPES))
# The events reconcile asks Stripe for: the types paydesk uses. Webhooks of other types (Stripe
# sends every type an endpoint listens to) are stored as ignored and never listed.
EVENTS = (
    "SELECT id, outcome, received_at, payment_id FROM stripe_events"  # noqa: S608 - constant types
    f" WHERE type IN ({_HANDLED}) ORDER BY id"
)
APPLIED_UNUSED = (
    "SELECT id, type, outcome FROM stripe_events"  # noqa: S608 - constant types
    f" WHERE type NOT IN ({_HANDLED}) AND outcome != 'ignored'"
)


async def test_a_payment_and_its_refund_missed_by_webhooks_are_caught_up(
    make_client: MakeClient,
    app_env: dict[str, str],
    unheard: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)  # several pages per type group
    client = await make_client(**settings(unheard))
    db = client.server.app[db_key]
    config = config_for(app_env, unheard)
    payment_id = await pay(client)
    assert await status(db, payment_id) == "pending"  # no webhook arrived

    assert await run_reconcile(config, None) == 0
    out = capsys.readouterr().out
    assert "(no webhook has arrived yet: the 30 days Stripe keeps events)" in out
    assert f"checkout.session.completed  {payment_id}" in out
    assert "0 deferred." in out
    assert await status(db, payment_id) == "succeeded"
    mail = await rows(db, MAIL)
    assert (payment_id, "receipt") in mail
    assert len(mail) == len(set(mail))

    # Nothing new: a second run changes nothing and queues nothing.
    stored = await rows(db, EVENTS)
    assert await run_reconcile(config, 3600) == 0
    out = capsys.readouterr().out
    assert "(--since)" in out
    assert ": 0 applied," in out
    assert f"{len(stored)} duplicate" in out
    assert await rows(db, EVENTS) == stored
    assert await rows(db, MAIL) == mail

    # A refund made in Stripe later is applied by the next run, since the last one.
    await refund_all(unheard)
    assert await run_reconcile(config, None) == 0
    out = capsys.readouterr().out
    assert "before the last verified webhook)" in out
    assert f"charge.refunded  {payment_id}" in out
    assert await status(db, payment_id) == "refunded"
    refund_mail = [row for row in await rows(db, MAIL) if row[1].startswith("refund")]
    assert len(refund_mail) == 1


async def test_an_event_reconciled_first_is_a_duplicate_when_its_webhook_arrives(
    make_client: MakeClient, app_env: dict[str, str], heard: str
) -> None:
    client = await make_client(**settings(heard))
    payment_id = await pay(client)
    await client.close()  # paydesk is down; Stripe keeps retrying its webhooks
    config = config_for(app_env, heard)
    assert await run_reconcile(config, None) == 0
    db = await open_database(config.database)
    try:
        assert await status(db, payment_id) == "succeeded"
        stored, mail = await rows(db, EVENTS), await rows(db, MAIL)
    finally:
        await db.close()

    client = await make_client(**settings(heard))
    await all_delivered(heard)
    db = client.server.app[db_key]
    assert await rows(db, EVENTS) == stored  # every delivery was a duplicate
    assert await rows(db, APPLIED_UNUSED) == []
    assert await rows(db, MAIL) == mail


async def test_an_event_delivered_by_webhook_is_a_duplicate_when_reconciled(
    make_client: MakeClient,
    app_env: dict[str, str],
    heard: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await make_client(**settings(heard))
    payment_id = await pay(client)
    await all_delivered(heard)
    db = client.server.app[db_key]
    assert await status(db, payment_id) == "succeeded"
    stored, mail = await rows(db, EVENTS), await rows(db, MAIL)

    assert await run_reconcile(config_for(app_env, heard), 3600) == 0
    out = capsys.readouterr().out
    assert f": 0 applied, 0 unchanged, {len(stored)} duplicate, 0 ignored, 0 deferred." in out
    assert await rows(db, EVENTS) == stored
    assert await rows(db, APPLIED_UNUSED) == []
    assert await rows(db, MAIL) == mail


async def test_a_rate_limit_is_waited_out(
    make_client: MakeClient,
    app_env: dict[str, str],
    unheard: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await make_client(**settings(unheard))
    payment_id = await pay(client)
    async with ClientSession() as control:
        fault = {"path_prefix": "/v1/events", "status": 429, "count": 2}
        assert (
            await control.post(unheard + "/_control/faults", json=fault, headers=AUTH)
        ).status == 201
    assert await run_reconcile(config_for(app_env, unheard), None) == 0
    assert f"checkout.session.completed  {payment_id}" in capsys.readouterr().out
    assert await status(client.server.app[db_key], payment_id) == "succeeded"


async def test_stripe_unreachable_applies_nothing_and_says_what_to_check(
    client: TestClient, app_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(app_env, f"http://127.0.0.1:{free_port()}")
    assert await run_reconcile(config, None) == 1
    err = capsys.readouterr().err
    assert "could not reach Stripe" in err
    assert "nothing was applied" in err


async def test_too_many_events_stops_at_the_cap_and_says_so(
    make_client: MakeClient,
    app_env: dict[str, str],
    unheard: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconcile, "MAX_EVENTS", 2)
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)
    await pay(await make_client(**settings(unheard)))
    assert await run_reconcile(config_for(app_env, unheard), None) == 1
    assert "stopped after 2 events" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 90 * 60), ("12h", 12 * 3600), ("3d", 3 * 86400), ("45d", 45 * 86400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "3", "d", "0h", "-2d", "1.5h", "3w", "3 days", "9999999d"])
def test_a_bad_since_is_refused_with_the_accepted_forms(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reconcile", f"--since={text}"])
    assert exited.value.code == 2
    assert "e.g. 90m, 12h or 3d" in capsys.readouterr().err


def test_the_window_never_reaches_beyond_what_stripe_keeps() -> None:
    now = 2_000_000_000
    assert choose_window(now, 90 * 86400, None).since_at_s == now - STRIPE_KEEPS_S
    assert "capped" in choose_window(now, 90 * 86400, None).why
    assert choose_window(now, 3600, None).since_at_s == now - 3600
    assert choose_window(now, None, None).since_at_s == now - STRIPE_KEEPS_S
    last_ms = (now - 600) * 1000  # Stripe may still be retrying events up to 3 days older
    assert choose_window(now, None, last_ms).since_at_s == now - 600 - 3 * 86400
    long_ago_ms = (now - 40 * 86400) * 1000
    assert choose_window(now, None, long_ago_ms).since_at_s == now - STRIPE_KEEPS_S
