"""Fault injection and latency, for the app's failure tests."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe
from sandbox_helpers import Harness, StartSandbox

SESSIONS = "/v1/checkout/sessions"


async def test_an_injected_500_reaches_the_sdk_once(sandbox: Harness) -> None:
    added = await sandbox.control(
        "POST", "/_control/faults", {"path_prefix": SESSIONS, "status": 500, "count": 1}
    )
    assert added["faults"] == [
        {"path_prefix": SESSIONS, "method": None, "status": 500, "delay": 0.0, "count": 1}
    ]
    with pytest.raises(stripe.APIError) as failed:
        await sandbox.create_session()
    assert failed.value.http_status == 500
    assert (await sandbox.control("GET", "/_control/faults"))["faults"] == []
    session = await sandbox.create_session()  # the fault is used up
    assert session.status == "open"


async def test_the_sdk_retries_a_500_with_the_same_key_and_one_session_results(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(retries=2)
    await sandbox.control("POST", "/_control/faults", {"path_prefix": SESSIONS, "status": 500})
    session = await sandbox.create_session()
    assert session.status == "open"
    listed = await sandbox.client.v1.checkout.sessions.list_async()
    assert [s.id for s in listed.data] == [session.id]


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, stripe.RateLimitError), (503, stripe.APIError), (400, stripe.InvalidRequestError)],
)
async def test_injected_statuses_map_to_sdk_errors(
    sandbox: Harness, status: int, error: type[Exception]
) -> None:
    await sandbox.control("POST", "/_control/faults", {"status": status, "method": "get"})
    with pytest.raises(error):
        await sandbox.client.v1.events.list_async()
    await sandbox.client.v1.events.list_async()


async def test_faults_match_method_and_can_last_until_cleared(sandbox: Harness) -> None:
    await sandbox.control(
        "POST",
        "/_control/faults",
        {"path_prefix": SESSIONS, "method": "POST", "status": 502, "count": None},
    )
    await sandbox.client.v1.checkout.sessions.list_async()  # a GET passes
    for _ in range(3):
        with pytest.raises(stripe.APIError):
            await sandbox.create_session()
    cleared = await sandbox.control("DELETE", "/_control/faults")
    assert cleared["faults"] == []
    await sandbox.create_session()


async def test_a_delay_fault_and_the_latency_setting_slow_answers(
    start_sandbox: StartSandbox,
) -> None:
    slow = await start_sandbox(latency=0.3)
    started = time.monotonic()
    await slow.client.v1.events.list_async()
    assert time.monotonic() - started >= 0.3

    sandbox = await start_sandbox()
    await sandbox.control("POST", "/_control/faults", {"path_prefix": "/v1/events", "delay": 0.3})
    started = time.monotonic()
    await sandbox.client.v1.events.list_async()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await sandbox.client.v1.events.list_async()
    assert time.monotonic() - started < 0.3


async def test_faults_can_break_the_hosted_page_too(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    await sandbox.control("POST", "/_control/faults", {"path_prefix": "/pay/", "status": 503})
    assert (await sandbox.get_page(session.url)).status == 503
    assert (await sandbox.get_page(session.url)).status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"status": 500, "colour": "red"},
        {"status": "500"},
        {"status": 200},
        {"path_prefix": "/v1"},
        {"status": 500, "count": 0},
        {"status": 500, "path_prefix": "v1"},
        ["status", 500],
    ],
)
async def test_bad_fault_requests_are_refused(sandbox: Harness, body: Any) -> None:
    headers = {"Authorization": f"Bearer {sandbox.settings.secret_key}"}
    url = sandbox.base_url + "/_control/faults"
    async with sandbox.http.post(url, json=body, headers=headers) as response:
        assert response.status == 400
        assert "error" in await response.json()
