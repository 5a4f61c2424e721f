"""paydesk against the sandbox running as its own process, as it would run against Stripe."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from aiohttp import ClientSession

from tests.conftest import PROJECT_ROOT, free_port, wait_until_ok
from tests.live import open_live, wait_for_status
from tests.pages import pay_on_hosted_page

WHSEC = "whsec_standalone_sandbox_test"


@pytest.fixture
def sandbox_process(app_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "run.py",
            "sandbox",
            "--port",
            str(port),
            "--webhook-url",
            f"http://127.0.0.1:{app_env['PORT']}/webhooks/stripe",
            "--webhook-secret",
            WHSEC,
            "--secret-key",
            "sk_test_standalone",
            "--retry-base-delay",
            "0.2",
            "--retry-max-delay",
            "0.5",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


async def test_paydesk_pays_through_a_standalone_sandbox_and_survives_a_restart(
    make_client, sandbox_process: str
) -> None:  # type: ignore[no-untyped-def]
    await wait_until_ok(
        sandbox_process + "/v1/events", {"Authorization": "Bearer sk_test_standalone"}
    )
    settings = {
        "STRIPE_API_BASE": sandbox_process,
        "STRIPE_SECRET_KEY": "sk_test_standalone",
        "STRIPE_WEBHOOK_SECRET": WHSEC,
    }
    client = await make_client(**settings)
    checkout = await (
        await client.post(
            "/api/checkout",
            json={"product": "drop-in-class", "name": "Ada", "email": "ada@example.com"},
        )
    ).json()
    assert checkout["checkout_url"].startswith(sandbox_process + "/pay/cs_test_")
    ws = await open_live(client, checkout["payment_id"])
    assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
    await wait_for_status(ws, "succeeded")
    await ws.close()

    # paydesk goes down; a refund made meanwhile is retried by the sandbox until paydesk is back.
    await client.close()
    async with ClientSession(headers={"Authorization": "Bearer sk_test_standalone"}) as stripe:
        intent = await _intent_of(stripe, sandbox_process)
        refund = await stripe.post(sandbox_process + "/v1/refunds", data={"payment_intent": intent})
        assert refund.status == 200, await refund.text()
    await asyncio.sleep(1)
    client = await make_client(**settings)
    ws = await open_live(client, checkout["payment_id"])
    await wait_for_status(ws, "refunded", timeout=20)
    await ws.close()


async def _intent_of(stripe: ClientSession, base: str) -> str:
    sessions = await (await stripe.get(base + "/v1/checkout/sessions")).json()
    return sessions["data"][0]["payment_intent"]
