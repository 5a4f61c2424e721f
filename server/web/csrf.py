"""CSRF protection for form posts: a per-browser token in a SameSite cookie, echoed in every form."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Collection

from aiohttp import web
from aiohttp.typedefs import Handler

from ..config import origin_of
from .keys import csrf_token_key

COOKIE = "paydesk_csrf"
FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TOKEN_LENGTH = 100  # secrets.token_urlsafe(32) is 43 characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


class CsrfRejected(web.HTTPForbidden):
    """Raised for a state-changing request without a valid token; the error page explains it."""


def setup_csrf(app: web.Application, *, public_url: str, exempt_routes: Collection[str]) -> None:
    """Check every unsafe request to this app's routes, except `exempt_routes` (signed or JSON-only)."""
    secure = public_url.startswith("https://")
    public_origin = origin_of(public_url)

    async def checked(request: web.Request, handler: Handler, cookie: str) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS:
            await _check(request, cookie, public_origin)
        response = await handler(request)
        if not cookie:
            response.set_cookie(
                COOKIE,
                request[csrf_token_key],
                httponly=True,
                samesite="Strict",
                # request.secure is also true behind a trusted TLS proxy (X-Forwarded-Proto).
                secure=secure or request.secure,
                path="/",
            )
        return response

    @web.middleware
    def csrf_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        # Requests with nothing to check and no cookie to set return the handler's coroutine for
        # aiohttp to await: a status page's live socket keeps no frame of this one alive.
        match = request.match_info
        if match.http_exception is not None:
            # No route (404) or not this method (405): nothing to protect, so answer that first.
            return handler(request)
        if match.apps[-1] is not app or match.route.name in exempt_routes:
            return handler(request)  # mounted apps (the sandbox) answer for themselves
        cookie = request.cookies.get(COOKIE, "")
        if not _well_formed(cookie):
            cookie = ""  # a cookie we never issued: replaced, and it matches no form
        request[csrf_token_key] = cookie or secrets.token_urlsafe(32)
        if cookie and request.method not in UNSAFE_METHODS:
            return handler(request)
        return checked(request, handler, cookie)

    app.middlewares.append(csrf_middleware)


async def _check(request: web.Request, cookie: str, public_origin: str) -> None:
    origin = request.headers.get("Origin")
    if origin and origin not in (public_origin, origin_of(str(request.url))):
        raise CsrfRejected(text="This form was sent from another site, so it was refused.")
    form = await request.post()
    sent = form.get(FIELD)
    if (
        not cookie
        or not isinstance(sent, str)
        or not _well_formed(sent)
        or not hmac.compare_digest(sent.encode(), cookie.encode())
    ):
        raise CsrfRejected(
            text="This form has expired or your browser blocked our cookie. Reload the page and try again."
        )


def _well_formed(token: str) -> bool:
    """Shaped like a token this module issues (URL-safe base64): compared as ASCII bytes only."""
    return (
        0 < len(token) <= MAX_TOKEN_LENGTH
        and token.isascii()
        and _TOKEN.fullmatch(token) is not None
    )
