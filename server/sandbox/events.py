"""Record events as Stripe makes them, snapshot their objects, and hand them to webhook delivery."""

from __future__ import annotations

import time
from typing import Any

from .delivery_plan import plan_delivery
from .ids import new_id
from .records import DeliveryState, Event, Origin
from .render import Record, render
from .state import Sandbox


def emit(
    sandbox: Sandbox,
    event_type: str,
    record: Record,
    origin: Origin,
    previous_attributes: dict[str, Any] | None = None,
) -> Event:
    """Record an event whose `data.object` is `record` as it is now, and queue its delivery."""
    listening = [
        endpoint.id
        for endpoint in sandbox.store.webhook_endpoints.values()
        if endpoint.listens_to(event_type)
    ]
    event_number = len(sandbox.store.events)
    event = Event(
        id=new_id("evt"),
        created=int(time.time()),
        type=event_type,
        api_version=sandbox.settings.api_version,
        data_object=render(sandbox.store, record),
        previous_attributes=previous_attributes,
        origin=origin,
        deliveries={endpoint_id: DeliveryState() for endpoint_id in listening},
    )
    sandbox.store.events[event.id] = event
    # Each endpoint gets its own delivery, retried on its own schedule.
    for endpoint_number, endpoint_id in enumerate(listening):
        plan = plan_delivery(sandbox.settings, event_number, endpoint_number)
        sandbox.outbox.put(
            event.id, endpoint_id, delay=plan.first_delay, duplicate_delay=plan.duplicate_delay
        )
    return event


def changed_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `previous_attributes`: the old values of what changed, nested hashes diffed."""
    previous: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            previous[key] = changed_attributes(old, new)
        else:
            previous[key] = old
    return previous


def render_event(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"object": event.data_object}
    if event.previous_attributes is not None:
        data["previous_attributes"] = event.previous_attributes
    return {
        "id": event.id,
        "object": "event",
        "api_version": event.api_version,
        "created": event.created,
        "data": data,
        "livemode": False,
        "pending_webhooks": event.pending_webhooks,
        "request": {
            "id": event.origin.request_id,
            "idempotency_key": event.origin.idempotency_key,
        },
        "type": event.type,
    }
