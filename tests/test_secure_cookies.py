"""Cookies are Secure whenever the browser came over https, also through a trusted TLS proxy."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp import ClientResponse

from server.console.sessions import password_hasher, set_password
from server.web.keys import db_key
from tests.console_helpers import FAST, PASSWORD, hidden_fields, start_console

HTTPS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def cookie(response: ClientResponse, name: str) -> SimpleCookie:
    [header] = [h for h in response.headers.getall("Set-Cookie") if h.startswith(name + "=")]
    return SimpleCookie(header)


@pytest.mark.parametrize(("headers", "secure"), [(HTTPS_PROXY, True), ({}, False)])
async def test_csrf_and_session_cookies_are_secure_over_https(
    aiohttp_server: Any,
    aiohttp_client: Any,
    app_env: dict[str, str],
    headers: dict[str, str],
    secure: bool,
) -> None:
    # PUBLIC_URL is left at its http default: the request itself says it came over https.
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await set_password(client.server.app[db_key], PASSWORD, password_hasher(FAST))
    page = await client.get("/admin/login", headers=headers)
    csrf = cookie(page, "paydesk_csrf")["paydesk_csrf"]
    assert bool(csrf["secure"]) is secure
    fields = hidden_fields(await page.text())
    # Sent by hand: the test client's jar would hold a Secure cookie back from an http URL.
    signed_in = await client.post(
        "/admin/login",
        data={**fields, "password": PASSWORD},
        headers={**headers, "Cookie": f"paydesk_csrf={csrf.value}"},
        allow_redirects=False,
    )
    assert signed_in.status == 303, await signed_in.text()
    assert bool(cookie(signed_in, "paydesk_admin")["paydesk_admin"]["secure"]) is secure
