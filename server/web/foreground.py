"""Middleware that stamps each request's arrival, so background work steps aside while they come."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from ..pacing import Foreground


def setup_foreground(app: web.Application, foreground: Foreground) -> None:
    """Record every request's arrival in `foreground`."""

    @web.middleware
    async def foreground_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        foreground.request_arrived()
        return await handler(request)

    app.middlewares.append(foreground_middleware)
