"""Injected failures and slowness for the app's failure tests, set through /_control/faults."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .api_base import is_api, relative_path
from .errors import StripeError, api_error, invalid_request


@dataclass
class Fault:
    """Requests whose path starts with `path_prefix` (and use `method`, when given) wait `delay`
    seconds and then, when `status` is set, fail with it; `count` requests, or all when None."""

    path_prefix: str = "/v1"
    method: str | None = None
    status: int | None = None
    delay: float = 0.0
    count: int | None = 1

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and self.method in (None, method)


def fault_error(status: int) -> StripeError:
    if status == 429:
        return StripeError(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    if status >= 500:
        return api_error(status)
    return invalid_request("Injected fault (sandbox /_control/faults).", status=status)


_FIELDS: dict[str, tuple[type, ...]] = {
    "path_prefix": (str,),
    "method": (str, type(None)),
    "status": (int, type(None)),
    "delay": (int, float),
    "count": (int, type(None)),
}


def parse_fault(body: Any) -> Fault:
    """A fault from the control route's JSON; ValueError says which field is wrong."""
    if not isinstance(body, dict):
        raise ValueError("send a JSON object")
    for name, value in body.items():
        if name not in _FIELDS:
            raise ValueError(f"unknown field {name!r}; known: {', '.join(_FIELDS)}")
        if not isinstance(value, _FIELDS[name]) or isinstance(value, bool):
            raise ValueError(f"{name}: wrong type {type(value).__name__}")
    fault = Fault(**body)
    if fault.status is None and fault.delay <= 0:
        raise ValueError("give a status, a delay, or both")
    if fault.status is not None and not 400 <= fault.status <= 599:
        raise ValueError("status: must be an HTTP error status, 400 to 599")
    if fault.delay < 0 or (fault.count is not None and fault.count < 1):
        raise ValueError("delay must not be negative and count must be at least 1")
    if not fault.path_prefix.startswith("/"):
        raise ValueError("path_prefix: must start with /, e.g. /v1/checkout/sessions")
    if fault.method is not None:
        fault.method = fault.method.upper()
    return fault


class Faults:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.rules: list[Fault] = []

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule that matches, used up by one request."""
        for rule in self.rules:
            if rule.matches(method, path):
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self.rules.remove(rule)
                return rule
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        name = request.match_info.route.name or ""
        if name.startswith("control.") or name == "static":
            return await handler(request)
        if self.latency and is_api(request):
            await asyncio.sleep(self.latency)
        fault = self.take(request.method, relative_path(request))
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                if is_api(request):
                    raise fault_error(fault.status)
                return web.Response(
                    status=fault.status, text="Injected fault (sandbox /_control/faults)."
                )
        return await handler(request)

    async def add(self, request: web.Request) -> web.Response:
        try:
            fault = parse_fault(await request.json())
        except (ValueError, json.JSONDecodeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        self.rules.append(fault)
        return self.listing(status=201)

    async def clear(self, request: web.Request) -> web.Response:
        self.rules.clear()
        return self.listing()

    async def show(self, request: web.Request) -> web.Response:
        return self.listing()

    def listing(self, status: int = 200) -> web.Response:
        return web.json_response({"faults": [asdict(rule) for rule in self.rules]}, status=status)


def setup_faults(app: web.Application, latency: float) -> Faults:
    faults = Faults(latency)
    app.router.add_post("/_control/faults", faults.add, name="control.faults.add")
    app.router.add_get("/_control/faults", faults.show, name="control.faults.show")
    app.router.add_delete("/_control/faults", faults.clear, name="control.faults.clear")
    return faults
