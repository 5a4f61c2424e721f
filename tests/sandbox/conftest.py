"""Fixtures: a sandbox served on loopback, the real Stripe SDK against it, a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import stripe
from aiohttp import web
from sandbox_helpers import KEY, SECRET, Harness, Receiver, StartSandbox, StartServer, free_port

from server.sandbox import SandboxSettings, create_sandbox_app


@pytest.fixture
async def start_sandbox(aiohttp_server: StartServer) -> AsyncIterator[StartSandbox]:
    """Start a sandbox with any settings; `mount="/_sandbox"` mounts it as paydesk does."""
    opened: list[tuple[stripe.AIOHTTPClient, aiohttp.ClientSession]] = []

    async def start(mount: str = "", retries: int = 0, **overrides: Any) -> Harness:
        port = free_port()
        if overrides.get("webhook_url") and "webhook_secrets" not in overrides:
            overrides["webhook_secrets"] = (SECRET,)
        overrides.setdefault("secret_key", KEY)
        settings = SandboxSettings(public_url=f"http://127.0.0.1:{port}{mount}", **overrides)
        app = create_sandbox_app(settings)
        if mount:
            root = web.Application()
            root.add_subapp(mount, app)
            app = root
        await aiohttp_server(app, port=port)
        http_client = stripe.AIOHTTPClient()
        client = stripe.StripeClient(
            settings.secret_key,
            base_addresses={"api": settings.public_url},
            http_client=http_client,
            max_network_retries=retries,
        )
        http = aiohttp.ClientSession()
        opened.append((http_client, http))
        return Harness(settings, client, http)

    yield start
    for http_client, http in opened:
        await http_client.close_async()
        await http.close()


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> Harness:
    return await start_sandbox()


@pytest.fixture
async def receiver(aiohttp_server: StartServer) -> Receiver:
    endpoint = Receiver()
    server = await aiohttp_server(endpoint.app())
    endpoint.url = str(server.make_url("/webhooks/stripe"))
    return endpoint


@pytest.fixture
async def delivering(start_sandbox: StartSandbox, receiver: Receiver) -> Harness:
    """A sandbox that delivers webhooks to `receiver`, with a fast retry schedule; in creation
    order and once each, for the tests that compare what arrived with what was made."""
    return await start_sandbox(
        webhook_url=receiver.url, retry_base_delay=0.05, retry_max_delay=0.2, delivery="exact"
    )
