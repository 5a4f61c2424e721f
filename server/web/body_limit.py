"""Request body limits: small for forms and JSON, larger for Stripe's events; 413 past the limit."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler


def setup_body_limit(app: web.Application, *, default: int, per_route: Mapping[str, int]) -> None:
    """Limit every request body of `app` to `default` bytes, or to `per_route[route name]`."""

    @web.middleware
    async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.apps[-1] is not app:
            return await handler(request)  # a mounted app (the sandbox) sets its own limits
        limit = per_route.get(request.match_info.route.name or "", default)
        declared = request.content_length
        if declared is not None:
            if declared > limit:
                raise _too_large(limit, declared)
            return await handler(request)  # the parser never reads past a declared length
        try:
            # A chunked body has no length up front: the clone stops reading at the limit.
            return await handler(request.clone(client_max_size=limit))
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(limit, None) from None

    app.middlewares.append(body_limit_middleware)


def _too_large(limit: int, size: int | None) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=size or limit + 1,
        text=f"That request was too large: the limit is {limit // 1024} KiB.",
    )
