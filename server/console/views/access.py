"""Signing in and out, and setting the first password through the one-time setup link."""

from __future__ import annotations

from aiohttp import web

from ...web.client import client_id
from ...web.keys import db_key
from ..guard import clear_session_cookie, operator_page, public, safe_next, set_session_cookie
from ..keys import console_key, session_key
from ..sessions import (
    MAX_PASSWORD_LENGTH,
    check_password,
    close_session,
    has_password,
    open_session,
    password_problem,
    prune_sessions,
    setup_token_usable,
    use_setup_token,
)
from ..wording import minutes_to_wait
from .common import console_error, page, see_other

BUSY = "Many sign-ins are being checked right now. Try again in a few seconds."
BUSY_WAIT_S = 5
SETUP_NEEDED = (
    "No console password is set yet. Open the setup link printed in the server log when paydesk "
    "started, or run: paydesk set-password"
)


def _login_page(
    request: web.Request,
    *,
    error: str | None = None,
    next_url: str | None = None,
    status: int = 200,
    setup_needed: bool = False,
) -> web.Response:
    return page(
        request,
        "admin/login.html",
        {
            "error": error,
            "next_url": next_url or safe_next(request.query.get("next")) or "",
            "expired": request.query.get("expired") == "1",
            "signed_out": request.query.get("done") == "signed-out",
            "setup_needed": setup_needed,
        },
        status=status,
    )


def _refused(
    request: web.Request, next_url: str | None, status: int, wait_s: int, message: str
) -> web.Response:
    response = _login_page(request, error=message, next_url=next_url, status=status)
    response.headers["Retry-After"] = str(wait_s)
    return response


def _too_many(request: web.Request, next_url: str | None, wait_s: int) -> web.Response:
    message = (
        f"Too many wrong passwords from your connection. Try again in {minutes_to_wait(wait_s)}."
    )
    return _refused(request, next_url, 429, wait_s, message)


@public
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request, setup_needed=not await has_password(request.app[db_key]))


@public
async def login_submit(request: web.Request) -> web.Response:
    db = request.app[db_key]
    throttle = request.app[console_key].throttle
    client = client_id(request)
    form = await request.post()
    next_url = safe_next(str(form.get("next", "")))
    if not await has_password(db):
        return _login_page(request, error=SETUP_NEEDED, next_url=next_url, status=409)
    attempts = throttle.attempts(db)  # in the database when several processes share it
    if wait := await attempts.retry_after(client):
        return _too_many(request, next_url, wait)
    if throttle.busy():
        # Not counted against anyone: many sign-ins from elsewhere are waiting for their check.
        return _refused(request, next_url, 503, BUSY_WAIT_S, BUSY)
    # Counted now, before the check, so a burst gets no more checks; with several processes
    # another attempt may have taken the last one since the look above.
    if wait := await attempts.admit(client):
        return _too_many(request, next_url, wait)
    password = form.get("password")
    async with throttle.checking():
        right = isinstance(password, str) and await check_password(db, password)
    if not right:
        return _login_page(
            request, error="That password is not right.", next_url=next_url, status=401
        )
    await attempts.succeeded(client)
    settings = request.app[console_key].settings
    await prune_sessions(
        db, idle_seconds=settings.session_idle_seconds, max_seconds=settings.session_max_seconds
    )
    agent = request.headers.get("User-Agent", "")[:200]
    token = await open_session(db, f"{client} {agent}".strip())
    redirect = web.HTTPSeeOther(next_url or request.app.router["admin.dashboard"].url_for())
    set_session_cookie(request, redirect, token)
    raise redirect


@operator_page
async def logout(request: web.Request) -> web.Response:
    session = request[session_key]
    await close_session(request.app[db_key], session.token_hash)
    await request.app[console_key].feed.close(only=session.token_hash)
    redirect = see_other(request, "admin.login", {"done": "signed-out"})
    clear_session_cookie(redirect)
    raise redirect


SETUP_GONE = "This setup link was already used or has expired. Restart paydesk for a new one, or run: paydesk set-password"


@public
async def setup_form(request: web.Request) -> web.Response:
    if not await setup_token_usable(request.app[db_key], request.match_info["token"]):
        return console_error(request, 404, SETUP_GONE)
    return _setup_page(request, None, request.match_info["token"])


def _setup_page(
    request: web.Request, error: str | None, token: str, status: int = 200
) -> web.Response:
    """The setup form; it states the password rules before the first try."""
    rules = {
        "min_length": request.app[console_key].settings.min_password_length,
        "max_length": MAX_PASSWORD_LENGTH,
    }
    return page(
        request, "admin/setup.html", {"error": error, "token": token, **rules}, status=status
    )


@public
async def setup_submit(request: web.Request) -> web.Response:
    db = request.app[db_key]
    token = request.match_info["token"]
    if not await setup_token_usable(db, token):
        return console_error(request, 404, SETUP_GONE)
    form = await request.post()
    password, confirm = str(form.get("password", "")), str(form.get("confirm", ""))
    problem = password_problem(
        password, confirm, request.app[console_key].settings.min_password_length
    )
    if problem:
        return _setup_page(request, problem, token, status=400)
    if not await use_setup_token(db, token, password, request.app[console_key].hasher):
        return console_error(request, 404, SETUP_GONE)  # another tab used it a moment ago
    session_token = await open_session(db, client_id(request))
    redirect = see_other(request, "admin.dashboard")
    set_session_cookie(request, redirect, session_token)
    raise redirect
