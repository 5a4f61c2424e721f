"""The nginx site in docs/deploy.md, run by Debian's nginx in front of paydesk on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, TCPConnector

from server.app import create_app
from server.config import load_config
from server.console.sessions import password_hasher, set_password
from server.web.keys import db_key
from tests.conftest import free_port
from tests.console_helpers import FAST, PASSWORD, hidden_fields
from tests.live import wait_for_status

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
ORDER = {"product": "drop-in-class", "name": "Ada Lovelace", "email": "ada@example.com"}
NGINX = Path("/usr/sbin/nginx")
PLAIN_HTTP: dict[str, str] = {}  # each running nginx's https base URL → its plain http one


def doc_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DEPLOY.read_text(), re.S)
    assert len(blocks) == 1, f"docs/deploy.md should have one {language} block"
    return str(blocks[0])


def install_nginx() -> None:
    if NGINX.exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("nginx is missing: install Debian's nginx package (apt-get install nginx)")
    result = subprocess.run(
        ["bash", "-c", "apt-get update -q && apt-get install -y -q nginx-light"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )
    if not NGINX.exists():
        pytest.skip(f"nginx could not be installed:\n{(result.stdout + result.stderr)[-500:]}")


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
    install_nginx()
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    base = f"https://127.0.0.1:{https_port}"
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(app_port),
        "PUBLIC_URL": base,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'paydesk.db'}",
        "MAIL_DIR": str(tmp_path / "mail"),
        "CHECKOUT_RATE_LIMIT": "1",
    }
    config = replace(load_config(env, env_file=None), console=FAST)
    app = await create_app(config)
    await aiohttp_server(app, host="127.0.0.1", port=app_port)
    await set_password(app[db_key], PASSWORD, password_hasher(FAST))
    conf = nginx_conf(tmp_path, app_port, http_port, https_port)
    nginx = await asyncio.create_subprocess_exec(
        str(NGINX), "-p", str(tmp_path), "-c", str(conf), stderr=asyncio.subprocess.PIPE
    )
    try:
        await until_up(base, nginx)
        PLAIN_HTTP[base] = f"http://127.0.0.1:{http_port}"
        yield base
    finally:
        nginx.terminate()
        await nginx.wait()


async def until_up(base: str, nginx: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(20), ClientSession(connector=TCPConnector(ssl=False)) as session:
        while True:
            if nginx.returncode is not None:
                assert nginx.stderr is not None
                pytest.fail(f"nginx stopped: {(await nginx.stderr.read()).decode()}")
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status < 500:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.1)


def from_address(address: str) -> ClientSession:
    """A client whose connections come from `address` (any 127.x.y.z is this machine)."""
    connector = TCPConnector(ssl=False, local_addr=(address, 0))
    return ClientSession(connector=connector, cookie_jar=CookieJar(unsafe=True))


async def test_plain_http_is_sent_to_https(behind_nginx: str) -> None:
    http_base = PLAIN_HTTP[behind_nginx]
    async with from_address("127.0.0.2") as session:
        response = await session.get(f"{http_base}/admin/login", allow_redirects=False)
        assert response.status == 301
        assert response.headers["Location"] == "https://127.0.0.1/admin/login"
        page = await session.get(f"{behind_nginx}/admin/login")
        assert page.status == 200
        assert "Secure" in page.headers["Set-Cookie"]  # cookies only travel over https


async def test_a_payment_status_arrives_over_the_socket_through_nginx(behind_nginx: str) -> None:
    async with from_address("127.0.0.2") as session:
        response = await session.post(f"{behind_nginx}/api/checkout", json=ORDER)
        body = await response.json()
        assert response.status == 201, body
        ws_url = behind_nginx.replace("https://", "wss://")
        async with session.ws_connect(f"{ws_url}/payments/{body['payment_id']}/live") as ws:
            checkout_url = body["checkout_url"]
            assert checkout_url.startswith(behind_nginx)
            assert (await session.get(checkout_url)).status == 200
            paid = await session.post(
                checkout_url,
                data={"card_number": "4242424242424242", "exp": "12/34", "cvc": "123"},
                allow_redirects=False,
            )
            assert paid.status in (302, 303), await paid.text()
            await wait_for_status(ws, "succeeded")


async def test_customers_at_different_addresses_get_their_own_checkout_limit(
    behind_nginx: str,
) -> None:
    async with from_address("127.0.0.2") as first, from_address("127.0.0.3") as second:
        statuses = []
        for session in (first, first, second):
            response = await session.post(f"{behind_nginx}/api/checkout", json=ORDER)
            statuses.append(response.status)
    assert statuses == [201, 429, 201]


async def sign_in(session: ClientSession, base: str, password: str) -> int:
    page = await session.get(f"{base}/admin/login")
    fields = {**hidden_fields(await page.text()), "password": password}
    response = await session.post(f"{base}/admin/login", data=fields, allow_redirects=False)
    return response.status


async def test_an_attackers_wrong_passwords_do_not_stop_the_operator(behind_nginx: str) -> None:
    async with from_address("127.0.0.2") as attacker, from_address("127.0.0.3") as operator:
        guesses = [await sign_in(attacker, behind_nginx, "guess") for _ in range(6)]
        assert guesses == [401] * 5 + [429]
        assert await sign_in(operator, behind_nginx, PASSWORD) == 303
