"""The /v1 pipeline's common parts: request ids, Stripe-shaped JSON answers and errors, params."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Handler

from .errors import StripeError, invalid_request
from .formdata import FormDecodeError, decode_pairs
from .ids import request_id
from .keys import origin_key, params_key, request_id_key, sandbox_key
from .records import Origin

API_PREFIX = "api."


def is_api(request: web.Request) -> bool:
    name = request.match_info.route.name
    return name is not None and name.startswith(API_PREFIX)


def relative_path(request: web.Request) -> str:
    """The path inside the sandbox, the same whether it is mounted at /_sandbox or standalone."""
    mount = request.app.router["index"].url_for().path.rstrip("/")
    return request.path[len(mount) :] or "/"


def stripe_json(body: dict[str, Any], status: int = 200) -> web.Response:
    # Stripe pretty-prints its JSON with two spaces.
    return web.Response(
        text=json.dumps(body, indent=2, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


def error_response(error: StripeError) -> web.Response:
    response = stripe_json(error.body(), error.status)
    response.headers.update(error.headers)
    return response


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost for /v1: give the request its id and answer Stripe errors in Stripe's shape."""
    if not is_api(request):
        return await handler(request)
    request[request_id_key] = request_id()
    try:
        response = await handler(request)
    except StripeError as error:
        response = error_response(error)
    response.headers["Request-Id"] = request[request_id_key]
    settings = request.app[sandbox_key].settings
    response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", settings.api_version)
    if "Idempotency-Key" in request.headers:
        response.headers["Idempotency-Key"] = request.headers["Idempotency-Key"]
    return response


@web.middleware
async def api_params(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decode the query (and, for POST, the form body) into nested params once, for everyone."""
    if not is_api(request):
        return await handler(request)
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    if request.method == "POST":
        raw = await request.read()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_request("The request body is not valid UTF-8.") from None
        pairs += parse_qsl(body, keep_blank_values=True)
    try:
        request[params_key] = decode_pairs(pairs)
    except FormDecodeError as error:
        raise invalid_request(error.message, param=error.param) from None
    request[origin_key] = Origin(
        request_id=request[request_id_key],
        idempotency_key=request.headers.get("Idempotency-Key")
        if request.method == "POST"
        else None,
    )
    return await handler(request)


def expand_paths(params: dict[str, Any]) -> list[str]:
    """`expand` was checked by the endpoint's schema; absent means nothing to expand."""
    paths: list[str] = params.get("expand", [])
    return paths


def public_url_for(request: web.Request, route: str, **parts: str) -> str:
    """A link for browsers: `public_url` plus the route's path inside the sandbox."""
    mount = request.app.router["index"].url_for().path.rstrip("/")
    path = request.app.router[route].url_for(**parts).path
    return request.app[sandbox_key].settings.public_url + path[len(mount) :]


def sandbox_unsupported(message: str, param: str | None = None) -> StripeError:
    return invalid_request(f"{message} The Stripe sandbox does not support this.", param=param)
