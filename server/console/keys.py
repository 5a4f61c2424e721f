"""Typed keys for what the console shares: its state on the app, the signed-in operator on a request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Callable

    from .api_tokens import ApiToken
    from .sessions import Session
    from .state import ConsoleState

console_key: web.AppKey[ConsoleState] = web.AppKey("console")

# On the admin API sub-app: the customer's status page URL for a payment id (a root app route).
status_url_key: web.AppKey[Callable[[str], str]] = web.AppKey("console_status_url")

session_key: web.RequestKey[Session] = web.RequestKey("console_session")
api_token_key: web.RequestKey[ApiToken] = web.RequestKey("console_api_token")
