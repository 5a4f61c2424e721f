"""Caps on requests in progress, per client and in all, so one client cannot hold every slot."""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from .client import client_id

# A held request frees its slot within the body timeouts; a few seconds is a fair first retry.
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class RequestLimits:
    """How many requests may be in progress at once: per client, in all, and for Stripe's events."""

    max_requests: int
    max_per_client: int
    max_webhooks: int


class _InProgress:
    """Counts of requests being handled, by pool and by client; a client at zero is forgotten."""

    def __init__(self) -> None:
        self.total = 0
        self.webhooks = 0
        self.by_client: dict[str, int] = {}

    def release(self, client: str) -> None:
        self.total -= 1
        left = self.by_client[client] - 1
        if left:
            self.by_client[client] = left
        else:
            del self.by_client[client]


def setup_request_limits(
    app: web.Application,
    limits: RequestLimits,
    *,
    webhook_routes: Collection[str],
    exempt_routes: Collection[str],
) -> None:
    """Answer 503 with Retry-After past `limits`; `webhook_routes` draw on a pool of their own.

    `exempt_routes` are never counted: the health check answers at once and reads no body, and
    live sockets have their own caps. Mounted apps (the test sandbox, the console's token API)
    are not counted either: their requests are the app's own or refused before any body is read.
    """
    counts = _InProgress()

    async def counted(request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        if route in webhook_routes:
            # Stripe sends from a few addresses (behind a proxy: one), so no per-client cap here;
            # a flood on the other pages cannot take these slots.
            if counts.webhooks >= limits.max_webhooks:
                raise _busy("paydesk is busy receiving events; Stripe will send this one again.")
            counts.webhooks += 1
            try:
                return await handler(request)
            finally:
                counts.webhooks -= 1
        client = client_id(request)
        if counts.by_client.get(client, 0) >= limits.max_per_client:
            raise _busy(
                "Too many requests from your address are in progress at once. "
                "Wait a few seconds and try again."
            )
        if counts.total >= limits.max_requests:
            raise _busy("paydesk is busy right now. Please try again in a few seconds.")
        counts.total += 1
        counts.by_client[client] = counts.by_client.get(client, 0) + 1
        try:
            return await handler(request)
        finally:
            counts.release(client)

    @web.middleware
    def request_limits_middleware(
        request: web.Request, handler: Handler
    ) -> Awaitable[web.StreamResponse]:
        route = request.match_info.route.name or ""
        if request.match_info.apps[-1] is not app or route in exempt_routes:
            # Not awaited here: aiohttp awaits what a middleware returns, so an exempt live
            # socket keeps no frame of this one alive for as long as it is open.
            return handler(request)
        return counted(request, handler, route)

    app.middlewares.append(request_limits_middleware)


def _busy(message: str) -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(text=message, headers={"Retry-After": str(RETRY_AFTER_S)})
