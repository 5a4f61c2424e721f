"""Sandbox-only control routes (outside /v1): timers, webhook deliveries and resends."""

from __future__ import annotations

import json
from dataclasses import asdict

from aiohttp import web

from .keys import sandbox_key


async def run_timers(request: web.Request) -> web.Response:
    """Fast-forward: run pending timers now (bank debit outcomes, disputes, expiries).

    JSON `{"within": 60}` runs only what falls due in the next 60 seconds, so that a 24-hour
    session expiry stays pending while a bank debit settles; no body runs everything."""
    within: float | None = None
    if request.can_read_body:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        within = body.get("within") if isinstance(body, dict) else -1
        if within is not None and (
            not isinstance(within, int | float) or isinstance(within, bool) or within < 0
        ):
            return web.json_response(
                {"error": 'send no body, {}, or {"within": seconds} with seconds >= 0'}, status=400
            )
    ran = request.app[sandbox_key].timers.fast_forward(within)
    return web.json_response({"ran": ran})


async def show_timers(request: web.Request) -> web.Response:
    pending = request.app[sandbox_key].timers.pending()
    return web.json_response({"timers": [{"due": due, "name": name} for due, name in pending]})


async def show_deliveries(request: web.Request) -> web.Response:
    store = request.app[sandbox_key].store
    deliveries = [
        {"event": event.id, "type": event.type, "endpoint": endpoint_id, **asdict(state)}
        for event in store.events.values()
        for endpoint_id, state in event.deliveries.items()
    ]
    return web.json_response({"deliveries": deliveries})


async def resend_event(request: web.Request) -> web.Response:
    """Send an event again, as the Dashboard's "Resend" does; a given-up event gets new attempts."""
    sandbox = request.app[sandbox_key]
    event = sandbox.store.events.get(request.match_info["event_id"])
    if event is None:
        return web.json_response({"error": "no such event"}, status=404)
    if not event.deliveries:
        return web.json_response(
            {"error": "no webhook endpoint listened to this event when it happened"}, status=409
        )
    for endpoint_id, state in event.deliveries.items():
        already_delivered = state.delivered
        if not already_delivered:
            state.gave_up = False
            state.attempts = 0
        sandbox.outbox.put(event.id, endpoint_id, duplicate=already_delivered)
    return web.json_response({"event": event.id, "queued": True}, status=202)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/_control/timers/run", run_timers, name="control.timers.run")
    router.add_get("/_control/timers", show_timers, name="control.timers.show")
    router.add_get("/_control/deliveries", show_deliveries, name="control.deliveries")
    router.add_post(
        "/_control/events/{event_id}/resend", resend_event, name="control.events.resend"
    )
