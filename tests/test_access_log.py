"""The access log names the client behind a trusted proxy, not the proxy."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from server.app import create_app
from server.config import load_config
from server.web.access_log import access_logger_class


async def access_lines(
    aiohttp_server: Any,
    aiohttp_client: Any,
    app_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    **overrides: str,
) -> list[str]:
    """The access log lines for one GET /healthz, served as the command line serves it."""
    config = load_config({**app_env, **overrides}, env_file=None)
    server = await aiohttp_server(
        await create_app(config),
        host=config.host,
        port=config.port,
        access_log=logging.getLogger("aiohttp.access"),
        access_log_class=access_logger_class(config.trusted_proxies),
    )
    client = await aiohttp_client(server)
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        assert (await client.get("/healthz", headers=headers)).status == 200
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


async def test_behind_a_trusted_proxy_the_line_names_the_client(
    aiohttp_server: Any,
    aiohttp_client: Any,
    app_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The test client connects from 127.0.0.1, a trusted proxy by default.
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "User-Agent": "curl/8"}
    [line] = await access_lines(aiohttp_server, aiohttp_client, app_env, caplog, headers)
    assert line.startswith('203.0.113.7 "GET /healthz HTTP/1.1" 200 ')
    assert '"curl/8"' in line


async def test_from_an_untrusted_peer_the_header_is_ignored(
    aiohttp_server: Any,
    aiohttp_client: Any,
    app_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {"X-Forwarded-For": "203.0.113.7"}
    [line] = await access_lines(
        aiohttp_server, aiohttp_client, app_env, caplog, headers, TRUSTED_PROXIES="192.0.2.1"
    )
    assert line.startswith('127.0.0.1 "GET /healthz HTTP/1.1" 200 ')
