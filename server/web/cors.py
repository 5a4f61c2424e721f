"""CORS for the public JSON API, so an operator's other site can show products and start payments."""

from __future__ import annotations

from collections.abc import Awaitable, Collection

from aiohttp import web
from aiohttp.typedefs import Handler

ALLOWED_HEADERS = "Content-Type, Idempotency-Key"
MAX_AGE = "600"


def setup_cors(app: web.Application, *, origins: Collection[str], routes: Collection[str]) -> None:
    """Allow the listed origins to call the named routes; everything else stays same-origin."""
    allowed = frozenset(origins)

    async def preflight(request: web.Request) -> web.Response:
        origin = request.headers.get("Origin", "")
        if origin not in allowed:
            raise web.HTTPForbidden(
                text="This origin may not call the paydesk API; see CORS_ORIGINS."
            )
        methods = ", ".join(
            sorted({r.method for r in request.match_info.route.resource or ()} - {"OPTIONS"})
        )
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
                "Vary": "Origin",
            },
        )

    for name in routes:
        app.router[name].add_route("OPTIONS", preflight)  # type: ignore[attr-defined]

    async def with_cors_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers.add("Vary", "Origin")
        origin = request.headers.get("Origin", "")
        if origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
        return response

    @web.middleware
    def cors_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if request.match_info.route.name in routes:
            return with_cors_headers(request, handler)
        # Not awaited here: aiohttp awaits what a middleware returns, so this one keeps no frame
        # alive for as long as a live socket is open.
        return handler(request)

    app.middlewares.append(cors_middleware)
