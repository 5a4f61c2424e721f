"""Who a request comes from: the one client identity every limiter, throttle and log line uses."""

from __future__ import annotations

from aiohttp import web


def client_id(request: web.Request) -> str:
    """The client's address as this server sees it (the peer of the connection)."""
    return request.remote or "unknown"
