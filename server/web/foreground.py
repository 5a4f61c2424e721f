"""Middleware that stamps each request's arrival, so background work steps aside while they come."""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web
from aiohttp.typedefs import Handler

from ..pacing import Foreground


def setup_foreground(app: web.Application, foreground: Foreground) -> None:
    """Record every request's arrival in `foreground`."""

    @web.middleware
    def foreground_middleware(
        request: web.Request, handler: Handler
    ) -> Awaitable[web.StreamResponse]:
        foreground.request_arrived()
        # Not awaited here: aiohttp awaits what a middleware returns, so this one keeps no frame
        # alive for as long as a live socket is open.
        return handler(request)

    app.middlewares.append(foreground_middleware)
