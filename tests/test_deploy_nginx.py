"""The nginx site in docs/deploy.md, run by Debian's nginx in front of paydesk on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
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

NGINX = Path("/usr/sbin/nginx")
PLAIN_HTTP: dict[str, str] = {}  # each running nginx's https base URL → its plain http one


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_conf(folder: Path, app_port: int, http_port: int, https_port: int) -> Path:
    """The documented site, moved to free loopback ports and a self-signed certificate."""
    cert, key = self_signed(folder)
    site = doc_block("nginx")
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    site = site.replace("127.0.0.1:8080", f"127.0.0.1:{app_port}")
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read this test's folder
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}\ndaemon off;\npid {folder}/nginx.pid;\nerror_log stderr warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {folder}/body;\n"
        f"proxy_temp_path {folder}/proxy;\n{site}\n}}\n"
    )
    return conf


@pytest.fixture
async def behind_nginx(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[str]:
    """paydesk on loopback with the documented nginx in front; yields nginx's https base URL."""
    install(NGINX, "nginx-light")
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    base = f"https://127.0.0.1:{https_port}"
    await start_paydesk(aiohttp_server, tmp_path, app_port, base)
    conf = nginx_conf(tmp_path, app_port, http_port, https_port)
    log = tmp_path / "nginx.log"
    with log.open("wb") as stderr:
        nginx = await asyncio.create_subprocess_exec(
            str(NGINX), "-p", str(tmp_path), "-c", str(conf), stderr=stderr
        )
        try:
            await until_up(base, nginx, log)
            PLAIN_HTTP[base] = f"http://127.0.0.1:{http_port}"
            yield base
        finally:
            nginx.terminate()
            await nginx.wait()


async def test_plain_http_is_sent_to_https(behind_nginx: str) -> None:
    await check_plain_http_is_sent_to_https(PLAIN_HTTP[behind_nginx], behind_nginx, 301)


async def test_a_payment_status_arrives_over_the_socket_through_nginx(behind_nginx: str) -> None:
    await check_a_payment_status_arrives_over_the_socket(behind_nginx)


async def test_customers_at_different_addresses_get_their_own_checkout_limit(
    behind_nginx: str,
) -> None:
    await check_customers_get_their_own_checkout_limit(behind_nginx)


async def test_forged_forwarding_headers_do_not_change_who_the_client_is(
    behind_nginx: str,
) -> None:
    await check_forged_forwarding_headers_are_ignored(behind_nginx)


async def test_an_attackers_wrong_passwords_do_not_stop_the_operator(behind_nginx: str) -> None:
    await check_wrong_passwords_do_not_stop_the_operator(behind_nginx)
