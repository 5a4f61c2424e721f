"""Authentication and error shapes, as the SDK sees them."""

from __future__ import annotations

import base64

import pytest
import stripe
from sandbox_helpers import KEY, Harness, StartSandbox

from server.sandbox import SandboxSettings

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "You did not provide an API key."),
        ("Bearer sk_live_0123456789abcdef", "Invalid API Key provided: sk_live_************cdef"),
        # Another account's test key, or a typo of this one's: Stripe cannot tell them apart.
        ("Bearer sk_test_0123456789abcdef", "Invalid API Key provided: sk_test_************cdef"),
        ("Bearer sk_test_sandboy", "Invalid API Key provided: sk_test_***dboy"),
        ("Bearer {publishable}", "This API call cannot be made with a publishable API key."),
        ("Bearer pk_test_0123456789", "Invalid API Key provided: pk_test_******6789"),
        ("Bearer nonsense", "Invalid API Key provided"),
        ("Token sk_test_abc", "You did not provide an API key."),
    ],
)
async def test_requests_without_the_accounts_secret_key_get_401(
    sandbox: Harness, authorization: str | None, message: str
) -> None:
    if authorization:
        authorization = authorization.format(publishable=sandbox.settings.publishable_key)
    headers = {"Authorization": authorization} if authorization else {}
    async with sandbox.http.get(
        sandbox.base_url + "/v1/checkout/sessions", headers=headers
    ) as response:
        body = await response.json()
        assert response.status == 401
        assert response.headers["Request-Id"].startswith("req_")
    assert body["error"]["type"] == "invalid_request_error"
    assert message in body["error"]["message"]


@pytest.mark.parametrize("key", [KEY, "rk_test_restricted"])
async def test_basic_auth_with_the_key_as_user_name_is_accepted(
    start_sandbox: StartSandbox, key: str
) -> None:
    sandbox = await start_sandbox(api_keys=("rk_test_restricted",))
    credentials = base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    async with sandbox.http.get(sandbox.base_url + "/v1/events", headers=headers) as response:
        assert response.status == 200
        assert (await response.json())["object"] == "list"


@pytest.mark.parametrize("key", ["sk_live_not_here", "sk_test_mistyped_abcd"])
async def test_the_sdk_raises_authentication_error_with_stripes_message(
    sandbox: Harness, key: str
) -> None:
    http_client = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        key, base_addresses={"api": sandbox.base_url}, http_client=http_client
    )
    try:
        with pytest.raises(stripe.AuthenticationError) as refused:
            await client.v1.events.list_async()
        assert refused.value.http_status == 401
        prefix = key[:8]
        hidden = "*" * (len(key) - len(prefix) - 4)
        assert refused.value.user_message == f"Invalid API Key provided: {prefix}{hidden}{key[-4:]}"
    finally:
        await http_client.close_async()


async def test_a_generated_key_is_the_only_one_taken(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(secret_key=SandboxSettings().secret_key)
    assert sandbox.settings.secret_key != KEY
    assert len(sandbox.settings.secret_key) > 30
    assert sandbox.settings.publishable_key.startswith("pk_test_")
    assert (await sandbox.client.v1.events.list_async()).object == "list"
    url = sandbox.base_url + "/v1/events"
    async with sandbox.http.get(url, headers=AUTH) as response:
        assert response.status == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_control/timers"),
        ("POST", "/_control/timers/run"),
        ("GET", "/_control/deliveries"),
        ("POST", "/_control/events/evt_x/resend"),
        ("GET", "/_control/faults"),
        ("POST", "/_control/faults"),
        ("DELETE", "/_control/faults"),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer sk_test_other", "Bearer rk_test_restricted", "Bearer {pk}"]
)
async def test_control_routes_take_only_the_secret_key(
    start_sandbox: StartSandbox, method: str, path: str, authorization: str | None
) -> None:
    sandbox = await start_sandbox(api_keys=("rk_test_restricted",))
    headers = (
        {"Authorization": authorization.format(pk=sandbox.settings.publishable_key)}
        if authorization
        else {}
    )
    async with sandbox.http.request(method, sandbox.base_url + path, headers=headers) as response:
        assert response.status == 401
        assert "secret key" in (await response.json())["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await sandbox.control("GET", "/_control/faults") == {"faults": []}
    assert (await sandbox.control("GET", "/_control/timers"))["timers"] == []


async def test_the_mounted_sandbox_guards_its_control_routes_too(
    start_sandbox: StartSandbox,
) -> None:
    mounted = await start_sandbox(mount="/_sandbox")
    url = mounted.base_url + "/_control/timers"
    async with mounted.http.get(url) as response:
        assert response.status == 401
    assert (await mounted.control("GET", "/_control/timers"))["timers"] == []


async def test_unknown_ids_raise_invalid_request_error_naming_the_path_parameter(
    sandbox: Harness,
) -> None:
    """Stripe's `param` for an unknown id in the URL is the path parameter's name in its
    OpenAPI spec (`/v1/payment_intents/{intent}`), "id" where the spec calls it that."""
    v1 = sandbox.client.v1
    cases = [
        (v1.checkout.sessions.retrieve_async, "cs_test_nope", "checkout.session", "session"),
        (v1.checkout.sessions.expire_async, "cs_test_nope", "checkout.session", "session"),
        (v1.checkout.sessions.line_items.list_async, "cs_test_nope", "checkout.session", "session"),
        (v1.payment_intents.retrieve_async, "pi_nope", "payment_intent", "intent"),
        (v1.charges.retrieve_async, "ch_nope", "charge", "charge"),
        (v1.refunds.retrieve_async, "re_nope", "refund", "refund"),
        (v1.disputes.retrieve_async, "dp_nope", "dispute", "dispute"),
        (v1.disputes.close_async, "dp_nope", "dispute", "dispute"),
        (v1.events.retrieve_async, "evt_nope", "event", "id"),
        (v1.webhook_endpoints.retrieve_async, "we_nope", "webhook endpoint", "webhook_endpoint"),
        (v1.webhook_endpoints.delete_async, "we_nope", "webhook endpoint", "webhook_endpoint"),
    ]
    for call, object_id, kind, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await call(object_id)
        error = missing.value
        assert error.http_status == 404
        assert error.code == "resource_missing"
        assert (error.param, error.user_message) == (param, f"No such {kind}: '{object_id}'")


async def test_an_unknown_url_answers_like_stripe(sandbox: Harness) -> None:
    headers = AUTH
    async with sandbox.http.post(sandbox.base_url + "/v1/products", headers=headers) as response:
        body = await response.json()
    assert response.status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (POST: ")


async def test_errors_have_stripes_json_shape(sandbox: Harness) -> None:
    headers = {**AUTH, "Stripe-Version": "2026-10-28.endive"}
    async with sandbox.http.post(
        sandbox.base_url + "/v1/checkout/sessions", data={"bogus": "1"}, headers=headers
    ) as response:
        body = await response.json()
        assert response.headers["Stripe-Version"] == "2026-10-28.endive"
    assert response.status == 400
    assert body == {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_unknown",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
            "message": "Received unknown parameter: bogus",
            "param": "bogus",
        }
    }
