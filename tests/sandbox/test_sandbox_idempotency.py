"""Idempotency-Key: replays, mismatches and concurrent requests, as Stripe answers them."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
import stripe
from sandbox_helpers import Harness, StartSandbox, session_params
from stripe._encode import _api_encode

HEADERS = {
    "Authorization": "Bearer sk_test_sandbox",
    "Content-Type": "application/x-www-form-urlencoded",
}


def _form(params: dict[str, object]) -> str:
    return urlencode(list(_api_encode(params)))


async def test_the_same_key_and_params_replay_the_first_answer(sandbox: Harness) -> None:
    params = session_params()
    first = await sandbox.client.v1.checkout.sessions.create_async(
        params, {"idempotency_key": "k1"}
    )
    again = await sandbox.client.v1.checkout.sessions.create_async(
        params, {"idempotency_key": "k1"}
    )
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id
    listed = await sandbox.client.v1.checkout.sessions.list_async()
    assert [s.id for s in listed.data] == [first.id]  # no second session


async def test_the_same_key_with_other_params_is_an_idempotency_error(sandbox: Harness) -> None:
    await sandbox.client.v1.checkout.sessions.create_async(
        session_params(), {"idempotency_key": "k1"}
    )
    with pytest.raises(stripe.IdempotencyError) as refused:
        await sandbox.client.v1.checkout.sessions.create_async(
            session_params(client_reference_id="pay_2"), {"idempotency_key": "k1"}
        )
    assert refused.value.http_status == 400
    assert refused.value.user_message == (
        "Keys for idempotent requests can only be used with the same parameters they were first "
        "used with. Try using a key other than 'k1' if you meant to execute a different request."
    )


async def test_the_same_key_on_another_endpoint_is_an_idempotency_error(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    await sandbox.client.v1.checkout.sessions.expire_async(
        session.id, options={"idempotency_key": "k9"}
    )
    other = await sandbox.create_session()
    with pytest.raises(stripe.IdempotencyError) as refused:
        await sandbox.client.v1.checkout.sessions.expire_async(
            other.id, options={"idempotency_key": "k9"}
        )
    assert "can only be used for the same endpoint" in (refused.value.user_message or "")


async def test_keys_belong_to_one_api_key(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(secret_key="sk_test_first", api_keys=("rk_test_second",))
    url = sandbox.base_url + "/v1/checkout/sessions"
    body = _form(session_params())
    ids = []
    for key in ("sk_test_first", "rk_test_second"):
        headers = {**HEADERS, "Authorization": f"Bearer {key}", "Idempotency-Key": "shared"}
        async with sandbox.http.post(url, data=body, headers=headers) as response:
            assert response.status == 200
            assert "Idempotent-Replayed" not in response.headers
            ids.append((await response.json())["id"])
    assert ids[0] != ids[1]


async def test_a_concurrent_duplicate_gets_409_while_the_first_runs(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox()
    await sandbox.control(
        "POST", "/_control/faults", {"path_prefix": "/v1/checkout/sessions", "delay": 0.5}
    )
    url = sandbox.base_url + "/v1/checkout/sessions"
    body = _form(session_params())
    headers = {**HEADERS, "Idempotency-Key": "in-flight"}

    async def post() -> tuple[int, dict[str, object]]:
        async with sandbox.http.post(url, data=body, headers=headers) as response:
            return response.status, await response.json()

    first = asyncio.create_task(post())
    await asyncio.sleep(0.1)
    status, answer = await post()
    assert status == 409
    assert answer["error"]["type"] == "idempotency_error"
    assert answer["error"]["code"] == "idempotency_key_in_use"
    first_status, created = await first
    assert first_status == 200
    # Once the first finished, the retry Stripe's SDK would make is a replay.
    status, replayed = await post()
    assert (status, replayed["id"]) == (200, created["id"])


async def test_validation_errors_are_not_saved_so_a_fixed_retry_runs(sandbox: Harness) -> None:
    url = sandbox.base_url + "/v1/checkout/sessions"
    headers = {**HEADERS, "Idempotency-Key": "k-invalid"}
    async with sandbox.http.post(url, data=_form({"mode": "payment"}), headers=headers) as answer:
        assert answer.status == 400
    # Stripe saves nothing for a request that failed validation: the same key may be used again,
    # even with other parameters.
    async with sandbox.http.post(url, data=_form(session_params()), headers=headers) as answer:
        assert answer.status == 200


async def test_a_card_decline_is_saved_and_replayed(sandbox: Harness) -> None:
    params = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": True,
    }
    with pytest.raises(stripe.CardError) as first:
        await sandbox.client.v1.payment_intents.create_async(params, {"idempotency_key": "pay-1"})
    with pytest.raises(stripe.CardError) as replayed:
        await sandbox.client.v1.payment_intents.create_async(params, {"idempotency_key": "pay-1"})
    assert replayed.value.headers is not None
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert replayed.value.json_body == first.value.json_body
    intents = await sandbox.client.v1.payment_intents.list_async()
    assert len(intents.data) == 1
