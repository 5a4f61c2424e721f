"""Error pages rebuilt by the error middleware keep the headers that tell a client what to do next."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.web.errors import setup_errors


async def test_a_raised_401_keeps_www_authenticate_and_a_405_keeps_allow(
    aiohttp_client: Any,
) -> None:
    async def needs_a_token(request: web.Request) -> web.Response:
        raise web.HTTPUnauthorized(
            headers={"WWW-Authenticate": 'Bearer realm="reports"'},
            text="Send a token as 'Authorization: Bearer ...'.",
        )

    app = web.Application()
    setup_errors(app)
    app.router.add_get("/api/reports", needs_a_token)
    client = await aiohttp_client(app)

    response = await client.get("/api/reports")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="reports"'
    assert await response.json() == {
        "error": {"field": None, "message": "Send a token as 'Authorization: Bearer ...'."}
    }

    wrong_method = await client.post("/api/reports")
    assert wrong_method.status == 405
    assert wrong_method.headers["Allow"] == "GET,HEAD"
