"""When Stripe is down or erroring: a clear 502, the payment recorded as not started, nothing half-made.

Also checks what paydesk sends Stripe, through a recording proxy in front of a standalone sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from server.config import SANDBOX_SECRET_KEY
from server.sandbox import SandboxSettings, create_sandbox_app
from server.web.keys import db_key
from tests.conftest import count_rows, free_port
from tests.pages import field_errors, payment_form, submit_order

ORDER = {
    "product": "drop-in-class",
    "quantity": 1,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
}
WHSEC = "whsec_failure_tests"


async def only_payment(client: TestClient) -> Any:
    rows = await client.server.app[db_key].fetch_all("SELECT * FROM payments")
    assert len(rows) == 1
    return rows[0]


async def inject(client: TestClient, **fault: object) -> None:
    response = await client.post(
        "/_sandbox/_control/faults",
        json=fault,
        headers={"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"},
    )
    assert response.status == 201, await response.text()


async def test_stripe_unreachable_is_a_502_and_the_payment_is_not_started(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(
        STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}",
        STRIPE_WEBHOOK_SECRET=WHSEC,
        STRIPE_MAX_NETWORK_RETRIES="0",
    )
    response = await client.post("/api/checkout", json=ORDER)
    assert response.status == 502
    assert (await response.json())["error"]["message"].startswith(
        "We could not reach our payment provider, so nothing was charged."
    )
    row = await only_payment(client)
    assert (row["status"], row["checkout_session_id"], row["checkout_url"]) == (
        "not_started",
        None,
        None,
    )
    status = await (await client.get(f"/api/payments/{row['id']}")).json()
    assert status["view"]["key"] == "not_started"
    assert "nothing was charged" in status["view"]["detail"]


async def test_the_form_keeps_what_was_typed_and_retrying_it_starts_the_same_payment(
    client: TestClient,
) -> None:
    await inject(client, path_prefix="/v1/checkout/sessions", status=500, count=3)
    hidden = await payment_form(client)
    status, _, html = await submit_order(client, hidden=hidden, name="Grace Hopper")
    assert status == 502
    assert "Our payment provider could not start the checkout, so nothing was charged." in html
    assert 'value="Grace Hopper"' in html
    assert field_errors(html) == {}
    first = await only_payment(client)
    assert (first["status"], first["checkout_attempts"]) == ("not_started", 1)
    # Stripe is back: the same form, submitted again, completes the same payment.
    status, location, _ = await submit_order(client, hidden=hidden, name="Grace Hopper")
    assert status == 303
    assert "/_sandbox/pay/cs_test_" in location
    row = await only_payment(client)
    assert (row["id"], row["status"], row["checkout_url"]) == (first["id"], "pending", location)


@pytest.mark.parametrize(
    ("status", "logged"),
    [
        (401, "Stripe refused the API key"),
        (400, "Stripe refused to create a Checkout Session"),
        (429, None),
        (503, None),
    ],
)
async def test_stripe_errors_become_a_502_the_customer_can_act_on(
    client: TestClient, caplog: pytest.LogCaptureFixture, status: int, logged: str | None
) -> None:
    await inject(client, path_prefix="/v1/checkout/sessions", status=status, count=5)
    response = await client.post("/api/checkout", json=ORDER)
    assert response.status == 502
    assert "nothing was charged" in (await response.json())["error"]["message"]
    assert (await only_payment(client))["status"] == "not_started"
    if logged:
        assert logged in caplog.text


class RecordingProxy:
    """Forwards to the sandbox and keeps every request paydesk made, as Stripe would see it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.method, request.path, dict(request.headers), body))
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with (
            ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as upstream,
        ):
            return web.Response(
                body=await upstream.read(), status=upstream.status, content_type="application/json"
            )


@pytest.fixture
async def proxied(make_client, aiohttp_server) -> AsyncIterator[tuple[TestClient, RecordingProxy]]:  # type: ignore[no-untyped-def]
    port = free_port()
    app_port = free_port()
    sandbox = await aiohttp_server(
        create_sandbox_app(
            SandboxSettings(
                public_url=f"http://127.0.0.1:{port}",
                webhook_url=f"http://127.0.0.1:{app_port}/webhooks/stripe",
                webhook_secrets=(WHSEC,),
                secret_key="sk_test_recording",
            )
        ),
        host="127.0.0.1",
        port=port,
    )
    proxy = RecordingProxy(str(sandbox.make_url("")).rstrip("/"))
    proxy_app = web.Application()
    proxy_app.router.add_route("*", "/{tail:.*}", proxy.forward)
    proxy_server = TestServer(proxy_app, host="127.0.0.1", port=free_port())
    await proxy_server.start_server()
    client = await make_client(
        PORT=str(app_port),
        STRIPE_API_BASE=str(proxy_server.make_url("")),
        STRIPE_SECRET_KEY="sk_test_recording",
        STRIPE_WEBHOOK_SECRET=WHSEC,
    )
    yield client, proxy
    await proxy_server.close()


async def test_every_stripe_post_carries_an_idempotency_key_tied_to_the_payment(
    proxied: tuple[TestClient, RecordingProxy],
) -> None:
    client, proxy = proxied
    hidden = await payment_form(client)
    for _ in range(2):  # a double submit
        assert (await submit_order(client, hidden=hidden))[0] == 303
    posts = [r for r in proxy.requests if r[0] == "POST"]
    payment = await only_payment(client)
    assert [path for _, path, _, _ in posts] == ["/v1/checkout/sessions"]
    _, _, headers, body = posts[0]
    assert headers["Idempotency-Key"] == f"paydesk-checkout-{payment['id']}-0"
    assert headers["Authorization"] == "Bearer sk_test_recording"
    assert f"client_reference_id={payment['id']}".encode() in body
    assert b"[unit_amount]=1500&" in body  # the catalog's price, nothing the form sent


async def test_a_retry_after_a_failure_uses_a_new_key(
    proxied: tuple[TestClient, RecordingProxy],
) -> None:
    client, proxy = proxied
    hidden = await payment_form(client)
    sandbox = proxy.upstream
    async with ClientSession() as session:
        await session.post(
            f"{sandbox}/_control/faults",
            headers={"Authorization": "Bearer sk_test_recording"},
            json={"path_prefix": "/v1/checkout/sessions", "status": 500, "count": 3},
        )
    assert (await submit_order(client, hidden=hidden))[0] == 502
    assert (await submit_order(client, hidden=hidden))[0] == 303
    payment = await only_payment(client)
    keys = [
        headers["Idempotency-Key"] for method, _, headers, _ in proxy.requests if method == "POST"
    ]
    # The SDK's own retries reuse a key; paydesk's next attempt after a recorded failure does not.
    assert set(keys) == {
        f"paydesk-checkout-{payment['id']}-0",
        f"paydesk-checkout-{payment['id']}-1",
    }
    assert await count_rows(client) == 1
