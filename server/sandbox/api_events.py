"""/v1/events: retrieve one, or list newest first with Stripe's filters."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from aiohttp import web

from .api_base import stripe_json
from .errors import invalid_request
from .events import render_event
from .keys import params_key, sandbox_key
from .lists import in_range, list_object, newest_first, page
from .params import EXPAND, LIST_FIELDS, Arr, Bool, Obj, Str, TimeRange, validate
from .records import Event

LIST = Obj(
    {
        **LIST_FIELDS,
        "created": TimeRange(),
        "type": Str(),
        "types": Arr(Str(), max_items=20),
        "delivery_success": Bool(),
    }
)


def _selected(event: Event, params: dict[str, Any]) -> bool:
    # `type` may use * as a wildcard ("charge.dispute.*"); `types` lists exact names.
    if "type" in params and not fnmatchcase(event.type, params["type"]):
        return False
    if "types" in params and event.type not in params["types"]:
        return False
    if "delivery_success" in params:
        delivered = event.pending_webhooks == 0
        if delivered != params["delivery_success"]:
            return False
    return in_range(event.created, params.get("created"))


async def list_events(request: web.Request) -> web.Response:
    store = request.app[sandbox_key].store
    params = validate(LIST, request[params_key])
    if "type" in params and "types" in params:
        raise invalid_request(
            "You may only specify one of these parameters: type, types.", param="types"
        )
    events = [
        event for event in newest_first(list(store.events.values())) if _selected(event, params)
    ]
    chosen, has_more = page(events, lambda e: e.id, params, "event")
    return stripe_json(list_object("/v1/events", [render_event(e) for e in chosen], has_more))


async def retrieve_event(request: web.Request) -> web.Response:
    store = request.app[sandbox_key].store
    validate(Obj({"expand": EXPAND}), request[params_key])
    return stripe_json(render_event(store.event(request.match_info["event_id"])))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/events", list_events, name="api.events.list")
    router.add_get("/v1/events/{event_id}", retrieve_event, name="api.events.retrieve")
