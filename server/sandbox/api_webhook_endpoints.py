"""/v1/webhook_endpoints: create (the one answer with the secret), retrieve, list, update, delete."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from . import webhook_endpoints
from .api_base import expand_paths, stripe_json
from .errors import invalid_request
from .keys import params_key, sandbox_key
from .lists import list_object, newest_first, page
from .params import (
    EXPAND,
    LIST_FIELDS,
    Arr,
    Bool,
    Enum,
    Metadata,
    Obj,
    Spec,
    Str,
    set_values,
    unsupported,
    validate,
)
from .render import expand
from .webhook_endpoints import KNOWN_EVENT_TYPES, render_endpoint

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")


class Url(Str):
    """An absolute http(s) URL, as Stripe requires of an endpoint."""

    def check(self, value: Any, path: str) -> str:
        url = super().check(value, path)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid_request(f"Invalid URL: {url}", param=path, code="url_invalid")
        return url


class ApiVersion(Str):
    def check(self, value: Any, path: str) -> str:
        version = super().check(value, path)
        if not _API_VERSION.match(version):
            raise invalid_request(f"Invalid API version: {version}", param=path)
        return version


EVENTS: Spec = Arr(Enum(("*", *KNOWN_EVENT_TYPES)))
CREATE = Obj(
    {
        "url": Url(),
        "enabled_events": EVENTS,
        "api_version": ApiVersion(),
        "description": Str(),
        "metadata": Metadata(),
        "expand": EXPAND,
        **unsupported("connect"),
    },
    required=frozenset({"url", "enabled_events"}),
)
UPDATE = Obj(
    {
        "url": Url(),
        "enabled_events": EVENTS,
        "disabled": Bool(),
        "description": Str(allow_empty=True),
        "metadata": Metadata(),
        "expand": EXPAND,
    }
)
LIST = Obj(dict(LIST_FIELDS))
RETRIEVE = Obj({"expand": EXPAND})


async def create_webhook_endpoint(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(CREATE, request[params_key])
    endpoint = webhook_endpoints.create_endpoint(
        sandbox,
        params["url"],
        params["enabled_events"],
        api_version=params.get("api_version"),
        description=params.get("description"),
        metadata=set_values(params.get("metadata", {})),
    )
    body = render_endpoint(endpoint, with_secret=True)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


async def retrieve_webhook_endpoint(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(RETRIEVE, request[params_key])
    endpoint = sandbox.store.webhook_endpoint(request.match_info["endpoint_id"], "webhook_endpoint")
    return stripe_json(expand(sandbox.store, render_endpoint(endpoint), expand_paths(params)))


async def update_webhook_endpoint(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(UPDATE, request[params_key])
    endpoint = sandbox.store.webhook_endpoint(request.match_info["endpoint_id"], "webhook_endpoint")
    webhook_endpoints.update_endpoint(
        sandbox,
        endpoint,
        url=params.get("url"),
        enabled_events=params.get("enabled_events"),
        disabled=params.get("disabled"),
        description=params.get("description"),
        metadata=params.get("metadata"),
    )
    return stripe_json(expand(sandbox.store, render_endpoint(endpoint), expand_paths(params)))


async def delete_webhook_endpoint(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    validate(Obj({}), request[params_key])
    endpoint = sandbox.store.webhook_endpoint(request.match_info["endpoint_id"], "webhook_endpoint")
    webhook_endpoints.delete_endpoint(sandbox, endpoint)
    return stripe_json({"id": endpoint.id, "object": "webhook_endpoint", "deleted": True})


async def list_webhook_endpoints(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LIST, request[params_key])
    found = newest_first(list(sandbox.store.webhook_endpoints.values()))
    chosen, has_more = page(found, lambda e: e.id, params, "webhook endpoint")
    body = list_object("/v1/webhook_endpoints", [render_endpoint(e) for e in chosen], has_more)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


def add_routes(router: web.UrlDispatcher) -> None:
    base = "/v1/webhook_endpoints"
    one = base + "/{endpoint_id}"
    router.add_post(base, create_webhook_endpoint, name="api.webhook_endpoints.create")
    router.add_get(base, list_webhook_endpoints, name="api.webhook_endpoints.list")
    router.add_get(one, retrieve_webhook_endpoint, name="api.webhook_endpoints.retrieve")
    router.add_post(one, update_webhook_endpoint, name="api.webhook_endpoints.update")
    router.add_delete(one, delete_webhook_endpoint, name="api.webhook_endpoints.delete")
