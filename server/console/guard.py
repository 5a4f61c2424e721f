"""Access checks: console pages need a signed-in session, the admin API a Bearer token."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from ..config import origin_of
from ..web.keys import config_key, db_key
from .api_tokens import find_api_token
from .keys import api_token_key, console_key, session_key
from .sessions import Session, find_session

COOKIE = "paydesk_admin"
COOKIE_PATH = "/admin"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Marks what a handler requires; the route table test reads it to be sure nothing is left open.
ACCESS_ATTRIBUTE = "console_access"


async def current_session(request: web.Request) -> Session | None:
    settings = request.app[console_key].settings
    return await find_session(
        request.app[db_key],
        request.cookies.get(COOKIE, ""),
        idle_seconds=settings.session_idle_seconds,
        max_seconds=settings.session_max_seconds,
    )


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        # request.secure is also true behind a trusted TLS proxy (X-Forwarded-Proto: https).
        secure=request.secure or request.app[config_key].public_url.startswith("https://"),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path=COOKIE_PATH)


def safe_next(target: str | None) -> str | None:
    """A post-login destination only when it is a path inside the console (no open redirect)."""
    if not target or not target.startswith("/admin") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc or "\\" in target else target


def operator_page(handler: Handler) -> Handler:
    """A page or form action: without a live session, 303 to the login page (and back after)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await current_session(request)
        if session is None:
            query = {"next": request.path_qs} if request.method == "GET" else {}
            if request.cookies.get(COOKIE):
                query["expired"] = "1"
            location = request.app.router["admin.login"].url_for().with_query(query)
            response = web.HTTPSeeOther(location)
            if request.cookies.get(COOKIE):
                clear_session_cookie(response)
            raise response
        request[session_key] = session
        return await handler(request)

    setattr(guarded, ACCESS_ATTRIBUTE, "session")
    return guarded


def operator_socket(handler: Handler) -> Handler:
    """A WebSocket: refused with 401 before the upgrade without a session, 403 from another site."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await current_session(request)
        if session is None:
            raise web.HTTPUnauthorized(text="Sign in to the console first.")
        origin = request.headers.get("Origin")
        public = request.app[config_key].public_url
        if origin and origin not in (origin_of(public), origin_of(str(request.url))):
            raise web.HTTPForbidden(text="The console's live feed only opens from the console.")
        request[session_key] = session
        return await handler(request)

    setattr(guarded, ACCESS_ATTRIBUTE, "session")
    return guarded


def public(handler: Handler) -> Handler:
    """Login and setup: the only console handlers anyone may reach."""
    setattr(handler, ACCESS_ATTRIBUTE, "public")
    return handler


@web.middleware
async def bearer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For the admin API sub-app: every route needs `Authorization: Bearer <token>`."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = None
    if scheme.lower() == "bearer" and secret.strip():
        token = await find_api_token(request.config_dict[db_key], secret.strip())
    if token is None:
        raise web.HTTPUnauthorized(
            headers={"WWW-Authenticate": 'Bearer realm="paydesk admin API"'},
            text="Send a console API token as 'Authorization: Bearer pdk_...'.",
        )
    request[api_token_key] = token
    return await handler(request)
