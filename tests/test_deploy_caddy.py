"""The Caddy site in docs/deploy.md, run by Debian's caddy in front of paydesk on loopback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.deploy_helpers import (
    check_a_payment_status_arrives_over_the_socket,
    check_customers_get_their_own_checkout_limit,
    check_forged_forwarding_headers_are_ignored,
    check_plain_http_is_sent_to_https,
    check_wrong_passwords_do_not_stop_the_operator,
    doc_block,
    install,
    start_paydesk,
    until_up,
)

CADDY = Path("/usr/bin/caddy")
PLAIN_HTTP: dict[str, str] = {}  # each running caddy's https base URL → its plain http one


def caddyfile(folder: Path, app_port: int, http_port: int, https_port: int) -> Path:
    """The documented site on free loopback ports, with a certificate from caddy's own local CA.

    No ACME and no admin endpoint; everything caddy keeps (its CA, certificates) stays in `folder`.
    """
    site = doc_block("caddyfile")
    assert site.startswith("pay.example.com {"), "the site should be addressed by its domain"
    site = site.replace("pay.example.com", f"https://127.0.0.1:{https_port}", 1)
    site = site.replace("127.0.0.1:8080", f"127.0.0.1:{app_port}")
    options = (
        "{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\tdefault_bind 127.0.0.1\n"
        f"\thttp_port {http_port}\n\thttps_port {https_port}\n"
        f"\tstorage file_system {folder / 'caddy-data'}\n}}\n"
    )
    path = folder / "Caddyfile"
    path.write_text(options + site)
    return path


@pytest.fixture
async def behind_caddy(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[str]:
    """paydesk on loopback with the documented Caddy site in front; yields caddy's https base URL."""
    install(CADDY, "caddy")
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    base = f"https://127.0.0.1:{https_port}"
    await start_paydesk(aiohttp_server, tmp_path, app_port, base)
    config = caddyfile(tmp_path, app_port, http_port, https_port)
    # caddy saves its last config under XDG_CONFIG_HOME; keep that in the test's folder too.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "caddy-config")}
    env["XDG_DATA_HOME"] = str(tmp_path / "caddy-data")
    log = tmp_path / "caddy.log"
    with log.open("wb") as output:
        caddy = await asyncio.create_subprocess_exec(
            *(str(CADDY), "run", "--config", str(config), "--adapter", "caddyfile"),
            stdout=output,
            stderr=output,
            env=env,
        )
        try:
            await until_up(base, caddy, log)
            PLAIN_HTTP[base] = f"http://127.0.0.1:{http_port}"
            yield base
        finally:
            caddy.terminate()
            await caddy.wait()


async def test_plain_http_is_sent_to_https(behind_caddy: str) -> None:
    await check_plain_http_is_sent_to_https(PLAIN_HTTP[behind_caddy], behind_caddy, 308)


async def test_a_payment_status_arrives_over_the_socket_through_caddy(behind_caddy: str) -> None:
    await check_a_payment_status_arrives_over_the_socket(behind_caddy)


async def test_customers_at_different_addresses_get_their_own_checkout_limit(
    behind_caddy: str,
) -> None:
    await check_customers_get_their_own_checkout_limit(behind_caddy)


async def test_forged_forwarding_headers_do_not_change_who_the_client_is(
    behind_caddy: str,
) -> None:
    await check_forged_forwarding_headers_are_ignored(behind_caddy)


async def test_an_attackers_wrong_passwords_do_not_stop_the_operator(behind_caddy: str) -> None:
    await check_wrong_passwords_do_not_stop_the_operator(behind_caddy)
