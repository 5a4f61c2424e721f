"""The settings page: change the password, sign out other browsers, create and revoke API tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...web.client import client_id
from ...web.keys import db_key
from ..api_tokens import TokenNameError, create_api_token, list_api_tokens, revoke_api_token
from ..guard import operator_page, set_session_cookie
from ..keys import console_key, session_key
from ..sessions import (
    check_password,
    close_other_sessions,
    list_sessions,
    open_session,
    password_problem,
    prune_sessions,
    set_password,
)
from .common import console_error, page, see_other

NOTICES = {
    "password": "Your password is changed. Every other browser is signed out.",
    "signed-out": "Every other browser is signed out.",
    "revoked": "The token is revoked; scripts using it are refused from now on.",
}


async def _settings_page(
    request: web.Request, *, status: int = 200, **context: Any
) -> web.Response:
    db = request.app[db_key]
    limits = request.app[console_key].settings
    await prune_sessions(
        db, idle_seconds=limits.session_idle_seconds, max_seconds=limits.session_max_seconds
    )
    sessions = await list_sessions(db)
    return page(
        request,
        "admin/settings.html",
        {
            "tokens": await list_api_tokens(db),
            "sessions": sessions,
            "this_session": request[session_key].token_hash,
            "notice": NOTICES.get(request.query.get("done", "")),
            "password_error": None,
            "token_error": None,
            "new_token": None,
            "min_length": limits.min_password_length,
            **context,
        },
        status=status,
    )


@operator_page
async def settings(request: web.Request) -> web.Response:
    return await _settings_page(request)


@operator_page
async def change_password(request: web.Request) -> web.Response:
    db = request.app[db_key]
    form = await request.post()
    current = str(form.get("current", ""))
    new, confirm = str(form.get("password", "")), str(form.get("confirm", ""))
    if not await check_password(db, current):
        problem: str | None = "Your current password is not right."
        return await _settings_page(request, status=400, password_error=problem)
    problem = password_problem(new, confirm, request.app[console_key].settings.min_password_length)
    if problem:
        return await _settings_page(request, status=400, password_error=problem)
    await set_password(db, new, request.app[console_key].hasher)  # ends every session, this one too
    await request.app[console_key].feed.close()
    token = await open_session(db, client_id(request))
    redirect = see_other(request, "admin.settings", {"done": "password"})
    set_session_cookie(request, redirect, token)
    raise redirect


@operator_page
async def end_other_sessions(request: web.Request) -> web.Response:
    keep = request[session_key].token_hash
    await close_other_sessions(request.app[db_key], keep)
    await request.app[console_key].feed.close(keep=keep)
    raise see_other(request, "admin.settings", {"done": "signed-out"})


@operator_page
async def create_token(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        token, secret = await create_api_token(request.app[db_key], str(form.get("name", "")))
    except TokenNameError as exc:
        return await _settings_page(request, status=400, token_error=str(exc))
    # Shown once, on this response only; never stored or shown again.
    return await _settings_page(request, new_token={"name": token.name, "secret": secret})


@operator_page
async def revoke_token(request: web.Request) -> web.Response:
    raw = request.match_info["token_id"]
    if not raw.isdigit() or not await revoke_api_token(request.app[db_key], int(raw)):
        return console_error(request, 404, "There is no such live token.")
    raise see_other(request, "admin.settings", {"done": "revoked"})
