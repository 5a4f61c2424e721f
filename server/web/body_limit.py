"""Request body limits in size and time: 413 past the size, 408 for a body that stops or crawls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from .client import client_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BodyTiming:
    """How long a body may take: `idle_s` without a byte, and `idle_s` plus its size at `min_bytes_per_s`."""

    idle_s: float
    min_bytes_per_s: int

    def total_s(self, size: int) -> float:
        return self.idle_s + size / self.min_bytes_per_s


def setup_body_limit(
    app: web.Application, *, default: int, per_route: Mapping[str, int], timing: BodyTiming
) -> None:
    """Limit every request body of `app` to `default` bytes, or to `per_route[route name]`, read in `timing`.

    The body is read here, before any handler, so no handler waits on a client that stopped sending.
    """

    async def read_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        limit = per_route.get(request.match_info.route.name or "", default)
        declared = request.content_length
        if declared is not None and declared > limit:
            raise _too_large(limit, declared)
        if declared is None:
            # A chunked body has no length up front: the clone stops reading at the limit.
            request = request.clone(client_max_size=limit)
        try:
            await _read_in_time(request, timing, declared if declared is not None else limit)
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(limit, None) from None
        except TimeoutError:
            raise web.HTTPRequestTimeout(
                text=f"The request body arrived too slowly (nothing for {timing.idle_s:g} s, or "
                f"slower than {timing.min_bytes_per_s // 1024 or 1} KiB a second), so it was "
                "cut off. Please send it again."
            ) from None
        except (ConnectionError, web.RequestPayloadError):
            # The client went away mid-body: nobody is there to read an answer, and nothing broke.
            log.info(
                "%s %s from %s: the client went away before its request body arrived",
                request.method,
                request.path,
                client_id(request),
            )
            raise web.HTTPBadRequest(text="The request body did not arrive completely.") from None
        return await handler(request)

    @web.middleware
    def body_limit_middleware(
        request: web.Request, handler: Handler
    ) -> Awaitable[web.StreamResponse]:
        # Not awaited here: aiohttp awaits what a middleware returns, so a request without a body
        # (a live socket among them) keeps no frame of this one alive while it is handled.
        if request.match_info.apps[-1] is not app:
            return handler(request)  # a mounted app (the sandbox) sets its own limits
        if not request.body_exists:
            return handler(request)
        return read_first(request, handler)

    app.middlewares.append(body_limit_middleware)


async def _read_in_time(request: web.Request, timing: BodyTiming, size: int) -> None:
    """Read (and so cache) the body; TimeoutError when it goes quiet or falls behind its deadline."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timing.total_s(size)
    content = request.content
    async with asyncio.timeout_at(min(deadline, started + timing.idle_s)) as timer:
        # Each time a check finds new bytes, the idle deadline moves on (never past the total).
        # Checked a few times per idle period rather than per chunk, so a fast body costs one timer.
        seen = content.total_bytes
        handle: asyncio.TimerHandle | None = None

        def check() -> None:
            nonlocal seen, handle
            now = loop.time()
            if content.total_bytes != seen:
                seen = content.total_bytes
                timer.reschedule(min(deadline, now + timing.idle_s))
            handle = loop.call_at(now + timing.idle_s / 4, check)

        handle = loop.call_at(started + timing.idle_s / 4, check)
        try:
            await request.read()
        finally:
            if handle is not None:
                handle.cancel()


def _too_large(limit: int, size: int | None) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=size or limit + 1,
        text=f"That request was too large: the limit is {limit // 1024} KiB.",
    )
