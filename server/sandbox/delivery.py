"""Deliver events to webhook endpoints: signed POSTs, retries with backoff, per-endpoint state."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from .background import background
from .events import render_event
from .keys import sandbox_key
from .outbox import Delivery
from .records import DeliveryState
from .settings import delivery_summary
from .signing import signature_header
from .state import Sandbox

log = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
# The dispatcher re-checks the outbox at least this often.
_MAX_IDLE = 30.0


class WebhookWorker:
    """One dispatcher moves due deliveries to a queue; `delivery_concurrency` senders drain it."""

    def __init__(self, sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
        self._sandbox = sandbox
        self._settings = sandbox.settings
        self._session = session

    async def run(self) -> None:
        ready: asyncio.Queue[Delivery] = asyncio.Queue()
        async with asyncio.TaskGroup() as group:
            for _ in range(self._settings.delivery_concurrency):
                group.create_task(self._send_forever(ready))
            await self._dispatch_forever(ready)

    async def _dispatch_forever(self, ready: asyncio.Queue[Delivery]) -> None:
        outbox = self._sandbox.outbox
        while True:
            # Out of order when delivery is Stripe-like: each first attempt came due after its own
            # seeded delay (events.emit).
            for delivery in outbox.pop_due(time.time()):
                ready.put_nowait(delivery)
            await outbox.wait(_MAX_IDLE)

    async def _send_forever(self, ready: asyncio.Queue[Delivery]) -> None:
        while True:
            try:
                # Bounded like every wait here; an idle sender just waits again.
                delivery = await asyncio.wait_for(ready.get(), timeout=_MAX_IDLE)
            except TimeoutError:
                continue
            await self._attempt(delivery)

    async def _attempt(self, delivery: Delivery) -> None:
        event = self._sandbox.store.events[delivery.event_id]
        state = event.deliveries.get(delivery.endpoint_id)
        endpoint = self._sandbox.store.webhook_endpoints.get(delivery.endpoint_id)
        if state is None or endpoint is None:
            return  # the endpoint was deleted: Stripe stops sending to it
        if endpoint.status != "enabled":
            # A disabled endpoint gets nothing; its pending events wait until it is enabled again.
            state.next_attempt_at = None
            state.held = True
            return
        payload = json.dumps(render_event(event), indent=2, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Cache-Control": "no-cache",
            "Stripe-Signature": signature_header(payload, endpoint.secrets, int(time.time())),
        }
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._settings.attempt_timeout):
                # Stripe does not follow redirects: a 3xx counts as a failure.
                async with self._session.post(
                    endpoint.url, data=payload, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    await response.read()
        except TimeoutError:
            error = f"timed out after {self._settings.attempt_timeout:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._record(delivery, state, status, error)

    def _record(
        self, delivery: Delivery, state: DeliveryState, status: int | None, error: str | None
    ) -> None:
        succeeded = status is not None and 200 <= status < 300
        if delivery.duplicate:
            state.duplicates_sent += 1
            return
        state.attempts += 1
        state.last_status = status
        state.last_error = error if error else (None if succeeded else f"HTTP {status}")
        state.next_attempt_at = None
        if succeeded:
            state.delivered = True
            state.delivered_at = time.time()
            if delivery.duplicate_delay is not None:
                self._sandbox.outbox.put(
                    delivery.event_id,
                    delivery.endpoint_id,
                    delay=delivery.duplicate_delay,
                    duplicate=True,
                )
            return
        if state.attempts >= self._settings.max_attempts:
            state.gave_up = True
            log.warning(
                "Stripe sandbox: gave up delivering %s to %s after %d attempts (%s)",
                delivery.event_id,
                delivery.endpoint_id,
                state.attempts,
                state.last_error,
            )
            return
        delay = self._settings.retry_delay(state.attempts)
        state.next_attempt_at = time.time() + delay
        self._sandbox.outbox.put(
            delivery.event_id,
            delivery.endpoint_id,
            delay=delay,
            duplicate_delay=delivery.duplicate_delay,
        )


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    """The webhook worker and its one ClientSession live as long as the app runs."""
    sandbox = app[sandbox_key]
    # A warning when the order is random, so that a failing test's captured log shows the seed.
    level = logging.INFO if sandbox.settings.delivery == "exact" else logging.WARNING
    log.log(level, "Stripe sandbox: webhook delivery %s", delivery_summary(sandbox.settings))
    # Always running: endpoints can be added through the API at any time.
    timeout = aiohttp.ClientTimeout(total=sandbox.settings.attempt_timeout)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        background(WebhookWorker(sandbox, session).run(), "stripe-sandbox-webhooks"),
    ):
        yield
