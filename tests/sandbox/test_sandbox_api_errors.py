"""Authentication and error shapes, as the SDK sees them."""

from __future__ import annotations

import base64

import pytest
import stripe
from sandbox_helpers import Harness


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "You did not provide an API key."),
        ("Bearer sk_live_0123456789abcdef", "Invalid API Key provided: sk_live_************cdef"),
        ("Bearer pk_test_0123456789", "This API call cannot be made with a publishable API key."),
        ("Bearer nonsense", "Invalid API Key provided"),
        ("Token sk_test_abc", "You did not provide an API key."),
    ],
)
async def test_requests_without_a_test_secret_key_get_401(
    sandbox: Harness, authorization: str | None, message: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with sandbox.http.get(
        sandbox.base_url + "/v1/checkout/sessions", headers=headers
    ) as response:
        body = await response.json()
        assert response.status == 401
        assert response.headers["Request-Id"].startswith("req_")
    assert body["error"]["type"] == "invalid_request_error"
    assert message in body["error"]["message"]


async def test_basic_auth_with_the_key_as_user_name_is_accepted(sandbox: Harness) -> None:
    credentials = base64.b64encode(b"rk_test_restricted:").decode()
    headers = {"Authorization": f"Basic {credentials}"}
    async with sandbox.http.get(sandbox.base_url + "/v1/events", headers=headers) as response:
        assert response.status == 200
        assert (await response.json())["object"] == "list"


async def test_the_sdk_raises_authentication_error(sandbox: Harness) -> None:
    http_client = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_live_not_here", base_addresses={"api": sandbox.base_url}, http_client=http_client
    )
    try:
        with pytest.raises(stripe.AuthenticationError) as refused:
            await client.v1.events.list_async()
        assert refused.value.http_status == 401
    finally:
        await http_client.close_async()


async def test_unknown_ids_raise_invalid_request_error_with_param_id(sandbox: Harness) -> None:
    cases = [
        (sandbox.client.v1.checkout.sessions.retrieve_async, "cs_test_nope", "checkout.session"),
        (sandbox.client.v1.payment_intents.retrieve_async, "pi_nope", "payment_intent"),
        (sandbox.client.v1.charges.retrieve_async, "ch_nope", "charge"),
        (sandbox.client.v1.refunds.retrieve_async, "re_nope", "refund"),
        (sandbox.client.v1.disputes.retrieve_async, "dp_nope", "dispute"),
        (sandbox.client.v1.events.retrieve_async, "evt_nope", "event"),
    ]
    for retrieve, object_id, kind in cases:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await retrieve(object_id)
        error = missing.value
        assert error.http_status == 404
        assert error.code == "resource_missing"
        assert error.param == "id"
        assert error.user_message == f"No such {kind}: '{object_id}'"


async def test_an_unknown_url_answers_like_stripe(sandbox: Harness) -> None:
    headers = {"Authorization": "Bearer sk_test_x"}
    async with sandbox.http.post(sandbox.base_url + "/v1/customers", headers=headers) as response:
        body = await response.json()
    assert response.status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (POST: ")


async def test_errors_have_stripes_json_shape(sandbox: Harness) -> None:
    headers = {"Authorization": "Bearer sk_test_x", "Stripe-Version": "2026-10-28.endive"}
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
