"""Error responses people can act on: an HTML page for browsers, a JSON body for the API."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ..db import DatabaseUnwritable
from .render import render

log = logging.getLogger(__name__)

FRIENDLY = {
    400: "That request could not be understood.",
    403: "You are not allowed to do that.",
    404: "We could not find that page. Check the link, or start again from the shop.",
    405: "That page cannot be used this way.",
    413: "That request was too large.",
    415: "Send this request as JSON (Content-Type: application/json).",
    429: "Too many attempts. Please wait a moment and try again.",
    500: "Something went wrong on our side. Nothing was charged by this error; please try again.",
    503: "We cannot take that right now. Nothing was changed; please try again in a minute.",
}

# Retry-After says when to try again; WWW-Authenticate how to authenticate (required on a 401,
# RFC 9110 and 6750); Allow which methods a path takes (required on a 405).
KEPT_HEADERS = ("Retry-After", "WWW-Authenticate", "Allow")


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/webhooks/")


def error_message(exc: web.HTTPException) -> str:
    """The text the raiser gave, unless it is aiohttp's default "404: Not Found"."""
    default = f"{exc.status}: {exc.reason}"
    if exc.text and exc.text != default:
        return exc.text
    return FRIENDLY.get(exc.status, exc.reason)


def setup_errors(app: web.Application) -> None:
    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.apps[-1] is not app:
            return await handler(request)  # a mounted app (the sandbox) speaks its own error format
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type not in (
                "text/plain",
                "application/octet-stream",
            ):
                raise  # redirects, and errors that already carry a body of their own
            response = _error_response(request, exc.status, error_message(exc), None)
            # The body is rebuilt; the headers that tell a client what to do next are kept.
            for name in KEPT_HEADERS:
                if name in exc.headers:
                    response.headers[name] = exc.headers[name]
            return response
        except DatabaseUnwritable:
            # The database logged the incident once (disk full); each request says so, quietly.
            # Stripe retries a webhook answered 503, and a person is asked to try again shortly.
            return _error_response(request, 503, FRIENDLY[503], "1")
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            return _error_response(request, 500, FRIENDLY[500], None)

    app.middlewares.append(error_middleware)


def _error_response(
    request: web.Request, status: int, message: str, retry_after: str | None
) -> web.Response:
    if wants_json(request):
        response = web.json_response({"error": {"field": None, "message": message}}, status=status)
    else:
        response = render(
            request, "error.html", {"status": status, "message": message}, status=status
        )
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response
