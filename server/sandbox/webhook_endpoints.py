"""Webhook endpoints: create, change and delete them, and render them in Stripe's shape."""

from __future__ import annotations

import secrets
import time
from typing import Any

from .errors import invalid_request
from .ids import new_id
from .records import WebhookEndpoint
from .state import Sandbox

# The event types the sandbox can send (a subset of Stripe's list); `*` means all of them.
KNOWN_EVENT_TYPES = (
    "charge.captured",
    "charge.dispute.closed",
    "charge.dispute.created",
    "charge.dispute.funds_reinstated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.updated",
    "charge.expired",
    "charge.failed",
    "charge.pending",
    "charge.refund.updated",
    "charge.refunded",
    "charge.succeeded",
    "charge.updated",
    "checkout.session.async_payment_failed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.completed",
    "checkout.session.expired",
    "payment_intent.amount_capturable_updated",
    "payment_intent.canceled",
    "payment_intent.created",
    "payment_intent.partially_funded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "refund.created",
    "refund.failed",  # newer than the 2023 OpenAPI description, sent by Stripe today
    "refund.updated",
)
# Stripe's limit per account and mode.
MAX_ENDPOINTS = 16


def new_secret() -> str:
    return f"whsec_{secrets.token_hex(24)}"


def create_endpoint(
    sandbox: Sandbox,
    url: str,
    enabled_events: list[str],
    *,
    api_version: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    endpoint_secrets: tuple[str, ...] = (),
) -> WebhookEndpoint:
    """A new enabled endpoint; without `endpoint_secrets` it gets a fresh signing secret."""
    if len(sandbox.store.webhook_endpoints) >= MAX_ENDPOINTS:
        raise invalid_request(
            f"You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints."
        )
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        created=int(time.time()),
        url=url,
        enabled_events=_unique(enabled_events),
        secrets=endpoint_secrets or (new_secret(),),
        api_version=api_version,
        description=description,
        metadata=metadata or {},
    )
    sandbox.store.webhook_endpoints[endpoint.id] = endpoint
    return endpoint


def update_endpoint(
    sandbox: Sandbox,
    endpoint: WebhookEndpoint,
    *,
    url: str | None = None,
    enabled_events: list[str] | None = None,
    disabled: bool | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
) -> WebhookEndpoint:
    """Change what was given; enabling an endpoint again sends what waited while it was disabled."""
    if url is not None:
        endpoint.url = url
    if enabled_events is not None:
        endpoint.enabled_events = _unique(enabled_events)
    if description is not None:
        endpoint.description = description or None
    if metadata is not None:
        for key, value in metadata.items():
            if value == "":
                endpoint.metadata.pop(key, None)
            else:
                endpoint.metadata[key] = value
    if disabled is not None:
        was_disabled = endpoint.status == "disabled"
        endpoint.status = "disabled" if disabled else "enabled"
        if was_disabled and not disabled:
            _resume(sandbox, endpoint.id)
    return endpoint


def delete_endpoint(sandbox: Sandbox, endpoint: WebhookEndpoint) -> None:
    """Forget the endpoint; deliveries still queued for it are dropped when they come due."""
    del sandbox.store.webhook_endpoints[endpoint.id]


def render_endpoint(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    """Stripe shows the signing secret only in the answer to the create call."""
    body: dict[str, Any] = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "api_version": endpoint.api_version,
        "application": None,
        "created": endpoint.created,
        "description": endpoint.description,
        "enabled_events": list(endpoint.enabled_events),
        "livemode": False,
        "metadata": dict(endpoint.metadata),
        "status": endpoint.status,
        "url": endpoint.url,
    }
    if with_secret:
        body["secret"] = endpoint.secrets[0]
    return body


def _resume(sandbox: Sandbox, endpoint_id: str) -> None:
    for event in sandbox.store.events.values():
        state = event.deliveries.get(endpoint_id)
        if state is not None and state.held:
            state.held = False
            sandbox.outbox.put(event.id, endpoint_id)


def _unique(types: list[str]) -> list[str]:
    return list(dict.fromkeys(types))
