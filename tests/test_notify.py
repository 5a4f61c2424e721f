"""Signed notifications to the operator's systems: what each change sends, retries, order, redelivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.catalog import CatalogError, parse_catalog
from server.clock import now_ms
from server.config import ConfigError, load_config
from server.notify.outbox import Attempt, changes
from server.web.keys import config_key, db_key
from tests import lifecycle_events as flows
from tests.conftest import PROJECT_ROOT, free_port
from tests.console_helpers import FAST, post_form, sign_in
from tests.seed import seed_payment
from tests.stripe_signing import event_body, sign

SECRET = "notify-test-secret-0123456789"
TOLERANCE_S = 300


def verified(body: bytes, header: str, secret: str = SECRET) -> bool:
    """The receiver's check, written from the documented scheme (Stripe's), not from paydesk's code."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts or abs(time.time() - int(parts["t"])) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


class Receiver:
    """The operator's system on loopback: not listening until started, answers as told, dedupes by id."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answers: deque[int] = deque()  # the next answers; 200 once they run out
        self.arrivals: list[dict[str, Any]] = []  # every verified request, in arrival order
        self.accepted: list[dict[str, Any]] = []  # first 2xx per id: what the system acts on
        self.refused = 0  # requests whose signature did not verify
        self.hold: asyncio.Event | None = None  # while set to an unset event, requests hang
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/paydesk"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/paydesk", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verified(body, request.headers.get("Paydesk-Signature", "")):
            self.refused += 1
            return web.Response(status=400, text="bad signature")
        notification = json.loads(body)
        assert request.headers["Idempotency-Key"] == notification["id"]
        self.arrivals.append(notification)
        self._changed.set()
        if self.hold is not None:
            await self.hold.wait()
        status = self.answers.popleft() if self.answers else 200
        if status == 200 and notification["id"] not in {n["id"] for n in self.accepted}:
            self.accepted.append(notification)
            self._changed.set()
        return web.Response(status=status, text="ok" if status == 200 else "not now")

    async def wait_for(self, accepted: int, timeout: float = 30) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.accepted) < accepted:
                self._changed.clear()
                await self._changed.wait()
        return self.accepted

    async def wait_for_arrivals(self, count: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while len(self.arrivals) < count:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def receiver() -> Any:
    found = Receiver()
    yield found
    await found.stop()


def notify_env(receiver: Receiver, **extra: str) -> dict[str, str]:
    return {
        "NOTIFY_URLS": receiver.url,
        "NOTIFY_SECRET": SECRET,
        "NOTIFY_RETRY_BASE": "0.2",
        **extra,
    }


def renamed(events: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """The same flow for another payment: every id of the lifecycle fixtures made unique by `tag`."""
    text = json.dumps(events)
    for name in ("pay_lifecycle_test", "cs_test_lifecycle", "pi_lifecycle", "ch_lifecycle"):
        text = text.replace(name, f"{name}_{tag}")
    for name in ("evt_lifecycle_", "re_first", "re_rest", "dp_lifecycle"):
        text = text.replace(name, f"{name}{tag}_")
    return json.loads(text)


async def send_flow(client: TestClient, events: list[dict[str, Any]]) -> None:
    secret = client.server.app[config_key].webhook_secrets[0]
    for event in events:
        body = event_body(event)
        response = await client.post(
            "/webhooks/stripe",
            data=body,
            headers={"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"},
        )
        assert response.status == 200, await response.text()


async def paid_flow(client: TestClient, flow: Any, tag: str = "") -> str:
    events = flow(flows.Stripe("hand-built"))
    payment_id = flows.PAYMENT_ID
    session_id = flows.SESSION_ID
    if tag:
        events = renamed(events, tag)
        payment_id, session_id = f"{payment_id}_{tag}", f"{session_id}_{tag}"
    await seed_payment(client, payment_id, session_id=session_id, amount=flows.AMOUNT)
    await send_flow(client, events)
    return payment_id


@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        (flows.card_success, ["payment.succeeded"]),
        (flows.async_failure, ["payment.failed"]),
        (flows.expiry, ["payment.expired"]),
        (flows.three_d_secure_failed, []),  # declined: the customer can still pay
        (
            flows.partial_then_full_refund,
            ["payment.succeeded", "payment.refunded", "payment.refunded"],
        ),
        (flows.dispute_won, ["payment.succeeded", "payment.disputed", "payment.dispute_closed"]),
        (
            flows.refund_succeeded_then_failed,
            ["payment.succeeded", "payment.refunded", "payment.refund_failed"],
        ),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
async def test_each_change_that_matters_is_notified_once_in_order(
    make_client: Any, receiver: Receiver, flow: Any, expected: list[str]
) -> None:
    await receiver.start()
    client = await make_client(**notify_env(receiver))
    payment_id = await paid_flow(client, flow)
    # The whole flow again: Stripe retries events, and a replay must notify nothing new.
    await send_flow(client, flow(flows.Stripe("hand-built")))
    if expected:
        await receiver.wait_for(len(expected))
    rows = await client.server.app[db_key].fetch_all(
        "SELECT type FROM notifications WHERE payment_id = ? ORDER BY seq", (payment_id,)
    )
    assert [row["type"] for row in rows] == expected
    assert [n["type"] for n in receiver.accepted] == expected
    assert len(receiver.arrivals) == len(expected)  # each went once: the receiver said 200


async def test_the_body_carries_the_payment_and_the_change(
    make_client: Any, receiver: Receiver
) -> None:
    await receiver.start()
    client = await make_client(**notify_env(receiver))
    await paid_flow(client, flows.partial_then_full_refund)
    succeeded, first, rest = await receiver.wait_for(3)
    assert succeeded["id"].startswith("ntf_") and isinstance(succeeded["created"], int)
    assert succeeded["payment"] == {
        "id": flows.PAYMENT_ID,
        "product": {"id": "support-the-studio", "name": "Support the studio"},
        "quantity": 1,
        "unit_amount": flows.AMOUNT,
        "amount": flows.AMOUNT,
        "currency": "eur",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "status": "succeeded",
        "created": succeeded["payment"]["created"],
        "metadata": {},
    }
    assert [first["refund"]["amount"], rest["refund"]["amount"]] == [1000, 1500]
    assert rest["payment"]["status"] == "refunded"  # as this change left it


async def test_down_then_500_then_200_each_arrives_verified_once_and_in_order(
    make_client: Any, receiver: Receiver
) -> None:
    client = await make_client(**notify_env(receiver))
    db = client.server.app[db_key]
    first = await paid_flow(client, flows.partial_then_full_refund, "a")
    second = await paid_flow(client, flows.dispute_won, "b")
    # Nothing listens yet: attempts are refused and recorded, and retried.
    async with asyncio.timeout(20):
        while (await db.fetch_one("SELECT count(*) FROM notification_attempts"))[0] < 3:
            await asyncio.sleep(0.05)
    receiver.answers.extend([500, 500, 500])
    await receiver.start()
    accepted = await receiver.wait_for(6)
    by_payment = {
        pid: [n["type"] for n in accepted if n["payment"]["id"] == pid] for pid in (first, second)
    }
    assert by_payment == {
        first: ["payment.succeeded", "payment.refunded", "payment.refunded"],
        second: ["payment.succeeded", "payment.disputed", "payment.dispute_closed"],
    }
    assert receiver.refused == 0
    # In order per payment: no notification arrived before the one before it was accepted.
    for pid in (first, second):
        order = [n["id"] for n in accepted if n["payment"]["id"] == pid]
        arrived = [order.index(n["id"]) for n in receiver.arrivals if n["payment"]["id"] == pid]
        assert arrived == sorted(arrived)
    answers = {
        row[0] for row in await db.fetch_all("SELECT status_code FROM notification_attempts")
    }
    assert answers == {None, 500, 200}  # refused connections, the 500s, the successes
    retried = await db.fetch_one(
        "SELECT max(attempts) FROM notification_deliveries WHERE status = 'delivered'"
    )
    assert retried[0] >= 2


async def test_the_retries_wait_longer_each_time(make_client: Any, receiver: Receiver) -> None:
    client = await make_client(**notify_env(receiver))  # nobody listens
    db = client.server.app[db_key]
    await paid_flow(client, flows.card_success)
    async with asyncio.timeout(20):
        while (await db.fetch_one("SELECT count(*) FROM notification_attempts"))[0] < 4:
            await asyncio.sleep(0.05)
    starts = [
        row[0]
        for row in await db.fetch_all(
            "SELECT started_at FROM notification_attempts ORDER BY started_at"
        )
    ][:4]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # 0.2 s, 0.4 s, 0.8 s: each at least the base times two to the retry's number, never sooner.
    assert all(gap >= 200 * 2**i for i, gap in enumerate(gaps)), gaps


async def test_a_product_with_its_own_notify_url_goes_only_there(
    make_client: Any, receiver: Receiver, tmp_path: Path
) -> None:
    own = Receiver()
    await receiver.start()
    await own.start()
    try:
        catalog = (PROJECT_ROOT / "server" / "catalog.example.toml").read_text()
        catalog = catalog.replace(
            'id = "support-the-studio"',
            f'id = "support-the-studio"\nnotify_url = "{own.url}"\n'
            'metadata = { ledger = "donations", cost_centre = "42" }',
        )
        (tmp_path / "shop.toml").write_text(catalog)
        client = await make_client(**notify_env(receiver), CATALOG=str(tmp_path / "shop.toml"))
        await paid_flow(client, flows.card_success)
        (notification,) = await own.wait_for(1)
        assert notification["payment"]["metadata"] == {"ledger": "donations", "cost_centre": "42"}
        await paid_flow(client, flows.card_success, "other")  # same product
        await own.wait_for(2)
        assert receiver.arrivals == []
    finally:
        await own.stop()


async def test_without_a_secret_nothing_is_sent_and_the_console_says_why(
    aiohttp_server: Any, aiohttp_client: Any, app_env: dict[str, str]
) -> None:
    from server.app import create_app

    config = replace(load_config(app_env, env_file=None), console=FAST)
    client = await aiohttp_client(
        await aiohttp_server(await create_app(config), host=config.host, port=config.port)
    )
    await paid_flow(client, flows.card_success)
    db = client.server.app[db_key]
    async with asyncio.timeout(10):
        while (await db.fetch_one("SELECT count(*) FROM notifications WHERE body IS NULL"))[0]:
            await asyncio.sleep(0.05)
    assert (await db.fetch_one("SELECT count(*) FROM notification_deliveries"))[0] == 0
    assert (await sign_in(client)).status == 303
    page = await (await client.get(f"/admin/payments/{flows.PAYMENT_ID}/notifications")).text()
    assert "Notifications are off" in page and "payment.succeeded" in page


async def given_up(
    aiohttp_server: Any, aiohttp_client: Any, env: dict[str, str]
) -> tuple[TestClient, str]:
    """A paid payment whose one notification was given up on (retries for 0.5 s, nobody listening)."""
    from server.app import create_app

    config = load_config(env, env_file=None)
    config = replace(config, console=FAST, notify=replace(config.notify, retry_for_s=0.5))
    client = await aiohttp_client(
        await aiohttp_server(await create_app(config), host=config.host, port=config.port)
    )
    await paid_flow(client, flows.card_success)
    db = client.server.app[db_key]
    async with asyncio.timeout(20):
        while not await db.fetch_one(
            "SELECT 1 FROM notification_deliveries WHERE status = 'failed'"
        ):
            await asyncio.sleep(0.05)
    row = await db.fetch_one("SELECT id FROM notification_deliveries")
    return client, row["id"]


async def test_given_up_is_listed_by_the_command_and_redelivered_from_the_console(
    aiohttp_server: Any, aiohttp_client: Any, app_env: dict[str, str], receiver: Receiver
) -> None:
    env = {**app_env, **notify_env(receiver)}
    client, delivery = await given_up(aiohttp_server, aiohttp_client, env)
    listing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "run.py", "notifications"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert "0 being retried, 1 given up" in listing.stdout
    assert "payment.succeeded" in listing.stdout and receiver.url in listing.stdout
    assert "ClientConnectorError" in listing.stdout

    assert (await sign_in(client)).status == 303
    detail = await (await client.get(f"/admin/payments/{flows.PAYMENT_ID}")).text()
    assert f"/admin/payments/{flows.PAYMENT_ID}/notifications" in detail
    page = await (await client.get(f"/admin/payments/{flows.PAYMENT_ID}/notifications")).text()
    assert "given up" in page and delivery in page
    await receiver.start()
    path = f"/admin/payments/{flows.PAYMENT_ID}/notifications/redeliver"
    response = await post_form(client, path, delivery=delivery)
    assert response.status == 303
    (notification,) = await receiver.wait_for(1)
    assert notification["type"] == "payment.succeeded"
    async with asyncio.timeout(10):
        while "delivered" not in (
            await (await client.get(f"/admin/payments/{flows.PAYMENT_ID}/notifications")).text()
        ):
            await asyncio.sleep(0.05)
    refused = await post_form(client, path, delivery="ntd_nosuchdelivery")
    assert refused.status == 404
    assert "no delivery with that id" in await refused.text()


async def test_the_command_sends_given_up_deliveries_again(
    aiohttp_server: Any, aiohttp_client: Any, app_env: dict[str, str], receiver: Receiver
) -> None:
    env = {**app_env, **notify_env(receiver)}
    client, delivery = await given_up(aiohttp_server, aiohttp_client, env)

    async def command(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "run.py", "notifications", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    unknown = await command("--redeliver", "ntf_nosuchnotification")
    assert unknown.returncode == 1
    assert "ntf_nosuchnotification is not failing" in unknown.stdout
    again = await command("--redeliver", "given-up")
    assert again.returncode == 0, again.stderr
    assert "1 delivery(ies) due again now" in again.stdout
    row = await client.server.app[db_key].fetch_one(
        "SELECT status, next_attempt_at FROM notification_deliveries WHERE id = ?", (delivery,)
    )
    assert row is not None and row["status"] == "pending" and row["next_attempt_at"] <= now_ms()
    listing = await command()
    assert "1 being retried, 0 given up" in listing.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NOTIFY_URLS": "http://orders.example.com/h", "NOTIFY_SECRET": SECRET}, "NOTIFY_URLS: "),
        ({"NOTIFY_URLS": "ftp://orders.example.com/h", "NOTIFY_SECRET": SECRET}, "NOTIFY_URLS: "),
        ({"NOTIFY_URLS": "https://orders.example.com/h"}, "NOTIFY_SECRET: required"),
        ({"NOTIFY_URLS": "https://a.example/h", "NOTIFY_SECRET": "short"}, "NOTIFY_SECRET: "),
        ({"NOTIFY_RETRY_BASE": "0"}, "NOTIFY_RETRY_BASE: "),
    ],
)
def test_settings_are_checked_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(env, env_file=None)
    assert str(error.value).startswith(message)


def test_http_is_allowed_to_this_machine_only() -> None:
    for url in ("http://127.0.0.1:9000/h", "http://localhost/h", "http://[::1]:8000/h"):
        config = load_config({"NOTIFY_URLS": url, "NOTIFY_SECRET": SECRET}, env_file=None)
        assert config.notify.urls == (url,)


@pytest.mark.parametrize(
    ("product", "message"),
    [
        ({"notify_url": "http://shipping.example.com/in"}, "notify_url"),
        ({"metadata": {"sku": 12}}, "metadata.sku must be text"),
        ({"metadata": "sku"}, "metadata must be a table"),
        ({"metadata": {"bad key!": "x"}}, "metadata key"),
    ],
)
def test_catalog_notify_url_and_metadata_are_checked(product: dict[str, Any], message: str) -> None:
    data = {
        "shop": {"name": "Shop", "contact_email": "shop@example.com"},
        "products": [{"id": "p", "name": "P", "currency": "eur", "unit_amount": 100, **product}],
    }
    with pytest.raises(CatalogError) as error:
        parse_catalog(data)
    assert message in str(error.value) and 'product "p"' in str(error.value)


def test_a_declined_step_notifies_nothing_and_expiry_once() -> None:
    from server.lifecycle import Facts, apply, facts_from_event

    facts = Facts()
    found: list[str] = []
    for event in flows.expiry(flows.Stripe("hand-built")):
        outcome = apply(facts, facts_from_event(event), amount=flows.AMOUNT)
        found += [change.type for change in changes(outcome)]
        facts = outcome.facts
    assert found == ["payment.expired"]


def test_an_attempt_is_delivered_only_on_2xx() -> None:
    assert Attempt(0, 1, 204, "").delivered
    assert not Attempt(0, 1, 301, "").delivered
    assert not Attempt(0, 1, None, "refused").delivered
