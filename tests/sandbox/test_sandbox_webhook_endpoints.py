"""/v1/webhook_endpoints: Stripe's wire shape, and each endpoint delivered to on its own."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from aiohttp import web
from openapi_contract import SPEC_DIR, SPEC_FILE, fixture, problems, spec_properties
from sandbox_helpers import (
    SECRET,
    VISA,
    Harness,
    Receiver,
    StartSandbox,
    StartServer,
    eventually,
    poll,
)

CARD_SUCCESS = {
    "payment_intent.created",
    "charge.succeeded",
    "payment_intent.succeeded",
    "checkout.session.completed",
}
needs_spec = pytest.mark.skipif(
    not SPEC_FILE.exists(), reason=f"Stripe's OpenAPI files are not at {SPEC_DIR}"
)


async def _receiver(aiohttp_server: StartServer, secret: str) -> Receiver:
    endpoint = Receiver(secret=secret)
    server = await aiohttp_server(endpoint.app())
    endpoint.url = str(server.make_url("/webhooks/stripe"))
    return endpoint


async def _pay(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    assert (await sandbox.pay_by_card(session.url, VISA)).status == 303


async def _request(sandbox: Harness, method: str, path: str, form: Any = None) -> Any:
    headers = {"Authorization": "Bearer sk_test_sandbox"}
    async with sandbox.http.request(
        method, sandbox.base_url + path, data=form, headers=headers
    ) as response:
        return response.status, await response.json()


async def test_create_returns_the_secret_once_and_the_rest_never(sandbox: Harness) -> None:
    created = await sandbox.client.v1.webhook_endpoints.create_async(
        {
            "url": "https://pay.example.com/webhooks/stripe",
            "enabled_events": ["checkout.session.completed", "charge.refunded"],
            "api_version": "2026-10-28.endive",
            "description": "paydesk",
            "metadata": {"owner": "shop"},
        }
    )
    assert created.id.startswith("we_")
    assert created.secret is not None and created.secret.startswith("whsec_")
    assert created.status == "enabled"
    assert created.enabled_events == ["checkout.session.completed", "charge.refunded"]
    assert created.api_version == "2026-10-28.endive"

    fetched = await sandbox.raw(f"/v1/webhook_endpoints/{created.id}")
    assert "secret" not in fetched
    assert fetched["url"] == "https://pay.example.com/webhooks/stripe"
    listed = await sandbox.raw("/v1/webhook_endpoints")
    assert [e["id"] for e in listed["data"]] == [created.id]
    assert "secret" not in listed["data"][0]


async def test_update_disables_and_changes_events_and_delete_forgets(sandbox: Harness) -> None:
    endpoints = sandbox.client.v1.webhook_endpoints
    created = await endpoints.create_async(
        {"url": "https://pay.example.com/hook", "enabled_events": ["*"]}
    )
    updated = await endpoints.update_async(
        created.id,
        {"disabled": True, "enabled_events": ["charge.succeeded"], "url": "https://b.example/h"},
    )
    assert (updated.status, updated.enabled_events, updated.url) == (
        "disabled",
        ["charge.succeeded"],
        "https://b.example/h",
    )
    deleted = await endpoints.delete_async(created.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await endpoints.retrieve_async(created.id)
    assert missing.value.http_status == 404
    assert f"No such webhook endpoint: '{created.id}'" in str(missing.value)


@pytest.mark.parametrize(
    ("form", "param", "message"),
    [
        ({"enabled_events[]": "*"}, "url", "Missing required param: url."),
        ({"url": "https://a.example/h"}, "enabled_events", "Missing required param"),
        (
            {"url": "https://a.example/h", "enabled_events[]": "charge.exploded"},
            "enabled_events[0]",
            "Invalid enabled_events[0]: must be one of",
        ),
        ({"url": "ftp://a.example/h", "enabled_events[]": "*"}, "url", "Invalid URL"),
        (
            {"url": "https://a.example/h", "enabled_events[]": "*", "api_version": "latest"},
            "api_version",
            "Invalid API version",
        ),
    ],
)
async def test_bad_input_is_refused_and_creates_nothing(
    sandbox: Harness, form: dict[str, str], param: str, message: str
) -> None:
    status, body = await _request(sandbox, "POST", "/v1/webhook_endpoints", form)
    assert status == 400
    assert body["error"]["param"] == param
    assert message in body["error"]["message"]
    assert (await sandbox.raw("/v1/webhook_endpoints"))["data"] == []


async def test_the_configured_webhook_url_is_an_endpoint_listening_to_everything(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(webhook_url=receiver.url)
    listed = (await sandbox.raw("/v1/webhook_endpoints"))["data"]
    assert [(e["url"], e["enabled_events"], e["status"]) for e in listed] == [
        (receiver.url, ["*"], "enabled")
    ]


async def test_each_endpoint_gets_its_events_signed_with_its_own_secret(
    sandbox: Harness, aiohttp_server: StartServer
) -> None:
    everything = await _receiver(aiohttp_server, SECRET)
    only_completed = await _receiver(aiohttp_server, "")
    created = await sandbox.client.v1.webhook_endpoints.create_async(
        {"url": everything.url, "enabled_events": ["*"]}
    )
    everything.secret = created.secret or ""
    second = await sandbox.client.v1.webhook_endpoints.create_async(
        {"url": only_completed.url, "enabled_events": ["checkout.session.completed"]}
    )
    only_completed.secret = second.secret or ""
    assert everything.secret != only_completed.secret

    await _pay(sandbox)
    await everything.wait_for_types(*CARD_SUCCESS)
    await only_completed.wait_for_types("checkout.session.completed")
    # Only the type it subscribed to; Stripe-like delivery may send that one twice.
    assert set(only_completed.accepted_types) == {"checkout.session.completed"}
    completed = await sandbox.client.v1.events.list_async({"type": "checkout.session.completed"})
    assert completed.data[0].pending_webhooks == 0


async def test_a_failing_endpoint_retries_on_its_own_while_the_other_is_served(
    start_sandbox: StartSandbox, aiohttp_server: StartServer
) -> None:
    # In order and once: the test counts attempts, which Stripe-like duplicates would add to.
    sandbox = await start_sandbox(
        retry_base_delay=0.05, retry_max_delay=0.05, max_attempts=3, delivery="exact"
    )
    healthy = await _receiver(aiohttp_server, "")

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=500)

    broken_app = web.Application()
    broken_app.router.add_post("/hook", refuse)
    broken = await aiohttp_server(broken_app)
    for receiver_url in (healthy.url, str(broken.make_url("/hook"))):
        created = await sandbox.client.v1.webhook_endpoints.create_async(
            {"url": receiver_url, "enabled_events": ["checkout.session.completed"]}
        )
        if receiver_url == healthy.url:
            healthy.secret = created.secret or ""

    await _pay(sandbox)
    await healthy.wait_for_types("checkout.session.completed")

    async def states() -> list[dict[str, Any]]:
        answer = await sandbox.control("GET", "/_control/deliveries")
        found: list[dict[str, Any]] = answer["deliveries"]
        return found

    final = await poll(states, lambda s: any(d["gave_up"] for d in s))
    by_outcome = sorted((d["delivered"], d["gave_up"], d["attempts"]) for d in final)
    assert by_outcome == [(False, True, 3), (True, False, 1)]
    assert len(healthy.received) == 1


async def test_a_disabled_endpoint_gets_nothing_until_it_is_enabled_again(
    sandbox: Harness, aiohttp_server: StartServer
) -> None:
    witness = await _receiver(aiohttp_server, "")
    receiver = await _receiver(aiohttp_server, "")
    endpoints = sandbox.client.v1.webhook_endpoints
    for target in (witness, receiver):
        created = await endpoints.create_async(
            {"url": target.url, "enabled_events": ["checkout.session.completed"]}
        )
        target.secret = created.secret or ""
    await endpoints.update_async(created.id, {"disabled": True})
    await _pay(sandbox)
    await witness.wait_for_types("checkout.session.completed")
    assert receiver.received == []

    await endpoints.update_async(created.id, {"disabled": False})
    await _pay(sandbox)
    await receiver.wait_for_types("checkout.session.completed")
    # Only the second payment's event (sent twice at times, as Stripe may).
    assert len({r.event["id"] for r in receiver.received}) == 1


async def test_a_retry_that_comes_due_while_disabled_waits_for_the_endpoint(
    start_sandbox: StartSandbox, aiohttp_server: StartServer
) -> None:
    sandbox = await start_sandbox(retry_base_delay=0.5, delivery="exact")  # counts attempts
    receiver = await _receiver(aiohttp_server, "")
    receiver.answers = [500]  # the first attempt fails, so a retry is scheduled
    endpoints = sandbox.client.v1.webhook_endpoints
    created = await endpoints.create_async(
        {"url": receiver.url, "enabled_events": ["checkout.session.completed"]}
    )
    receiver.secret = created.secret or ""
    await _pay(sandbox)
    await eventually(lambda: len(receiver.received) == 1, what="the failed first attempt")
    await endpoints.update_async(created.id, {"disabled": True})

    answer = await poll(
        lambda: sandbox.control("GET", "/_control/deliveries"),
        lambda a: a["deliveries"][0]["held"],
    )
    assert answer["deliveries"][0]["attempts"] == 1
    assert len(receiver.received) == 1

    await endpoints.update_async(created.id, {"disabled": False})
    await receiver.wait_for_types("checkout.session.completed")
    answer = await poll(
        lambda: sandbox.control("GET", "/_control/deliveries"),
        lambda a: a["deliveries"][0]["delivered"],
    )
    assert (answer["deliveries"][0]["attempts"], answer["deliveries"][0]["held"]) == (2, False)


@needs_spec
async def test_endpoints_fit_stripes_schema_and_carry_its_example_fields(sandbox: Harness) -> None:
    await sandbox.client.v1.webhook_endpoints.create_async(
        {"url": "https://pay.example.com/hook", "enabled_events": ["charge.failed"]}
    )
    status, created = await _request(
        sandbox,
        "POST",
        "/v1/webhook_endpoints",
        {"url": "https://pay.example.com/hook2", "enabled_events[]": "*", "description": "x"},
    )
    assert status == 200
    assert problems("webhook_endpoint", created) == []
    listed = await sandbox.raw("/v1/webhook_endpoints")
    for endpoint in listed["data"]:
        assert problems("webhook_endpoint", endpoint) == []
        expected = set(fixture("webhook_endpoint")) & spec_properties("webhook_endpoint")
        assert not expected - set(endpoint)
    status, deleted = await _request(sandbox, "DELETE", f"/v1/webhook_endpoints/{created['id']}")
    assert status == 200
    assert problems("deleted_webhook_endpoint", deleted) == []
