"""The access log line: one per request, naming the client behind a trusted proxy, not the proxy."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from .client import Network, client_behind


def access_logger_class(trusted: Iterable[Network]) -> type[AbstractAccessLogger]:
    """An access logger for `web.run_app(access_log_class=...)` that trusts only `trusted` proxies."""
    networks = tuple(trusted)

    class AccessLogger(AbstractAccessLogger):
        def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
            version = request.version
            self.logger.info(
                '%s "%s %s HTTP/%d.%d" %d %d "%s" "%s" %.3fs',
                logged_client(request, networks),
                request.method,
                request.path_qs,
                version.major,
                version.minor,
                response.status,
                response.body_length,
                request.headers.get("Referer", "-"),
                request.headers.get("User-Agent", "-"),
                time,
            )

    return AccessLogger


def logged_client(request: BaseRequest, trusted: tuple[Network, ...]) -> str:
    """What `client_id` says inside the app for this request."""
    return client_behind(request, trusted) or request.remote or "unknown"
