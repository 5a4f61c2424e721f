"""The recipes in docs/deploy.md, and the checks a proxy in front of paydesk must pass."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, TCPConnector

from server.app import create_app
from server.config import load_config
from server.console.sessions import password_hasher, set_password
from server.web.keys import db_key
from tests.console_helpers import FAST, PASSWORD, hidden_fields
from tests.live import wait_for_status

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
ORDER = {"product": "drop-in-class", "name": "Ada Lovelace", "email": "ada@example.com"}


def doc_blocks(language: str) -> list[str]:
    """Every fenced `language` block of docs/deploy.md, in page order."""
    return [
        str(block) for block in re.findall(rf"```{language}\n(.*?)```", DEPLOY.read_text(), re.S)
    ]


def doc_block(language: str) -> str:
    blocks = doc_blocks(language)
    assert len(blocks) == 1, f"docs/deploy.md should have one {language} block"
    return blocks[0]


def install(binary: Path, package: str) -> None:
    """Install Debian's `package` when `binary` is missing; skip only when that is impossible."""
    if binary.exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(
            f"{binary} is missing: install Debian's {package} package (apt-get install {package})"
        )
    result = subprocess.run(
        ["bash", "-c", f"apt-get update -q && apt-get install -y -q {package}"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )
    if not binary.exists():
        pytest.skip(f"{package} could not be installed:\n{(result.stdout + result.stderr)[-500:]}")


async def start_paydesk(aiohttp_server: Any, folder: Path, port: int, public_url: str) -> None:
    """paydesk on 127.0.0.1:`port`, one checkout per client and the console password set."""
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": public_url,
        "DATABASE_URL": f"sqlite:///{folder / 'paydesk.db'}",
        "MAIL_DIR": str(folder / "mail"),
        "CHECKOUT_RATE_LIMIT": "1",
    }
    config = replace(load_config(env, env_file=None), console=FAST)
    app = await create_app(config)
    await aiohttp_server(app, host="127.0.0.1", port=port)
    await set_password(app[db_key], PASSWORD, password_hasher(FAST))


async def until_up(base: str, proxy: asyncio.subprocess.Process, log: Path) -> None:
    """Until the proxy answers `base`; what it wrote to `log` is the failure when it stops first."""
    async with asyncio.timeout(20), ClientSession(connector=TCPConnector(ssl=False)) as session:
        while True:
            if proxy.returncode is not None:
                output = await asyncio.to_thread(log.read_text)
                pytest.fail(f"{log.stem} stopped: {output[-2000:]}")
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


async def check_plain_http_is_sent_to_https(http_base: str, https_base: str, status: int) -> None:
    async with from_address("127.0.0.2") as session:
        response = await session.get(f"{http_base}/admin/login", allow_redirects=False)
        assert response.status == status
        assert response.headers["Location"] == "https://127.0.0.1/admin/login"
        page = await session.get(f"{https_base}/admin/login")
        assert page.status == 200
        assert "Secure" in page.headers["Set-Cookie"]  # cookies only travel over https


async def check_a_payment_status_arrives_over_the_socket(base: str) -> None:
    async with from_address("127.0.0.2") as session:
        response = await session.post(f"{base}/api/checkout", json=ORDER)
        body = await response.json()
        assert response.status == 201, body
        ws_url = base.replace("https://", "wss://")
        async with session.ws_connect(f"{ws_url}/payments/{body['payment_id']}/live") as ws:
            checkout_url = body["checkout_url"]
            assert checkout_url.startswith(base)
            assert (await session.get(checkout_url)).status == 200
            paid = await session.post(
                checkout_url,
                data={"card_number": "4242424242424242", "exp": "12/34", "cvc": "123"},
                allow_redirects=False,
            )
            assert paid.status in (302, 303), await paid.text()
            await wait_for_status(ws, "succeeded")


async def check_customers_get_their_own_checkout_limit(base: str) -> None:
    async with from_address("127.0.0.2") as first, from_address("127.0.0.3") as second:
        statuses = []
        for session in (first, first, second):
            response = await session.post(f"{base}/api/checkout", json=ORDER)
            statuses.append(response.status)
    assert statuses == [201, 429, 201]


async def check_forged_forwarding_headers_are_ignored(base: str) -> None:
    """A client naming someone else in forwarding headers is still itself to paydesk."""
    forged = {"X-Forwarded-For": "127.0.0.9", "Forwarded": "for=127.0.0.9"}
    async with from_address("127.0.0.2") as session:
        statuses = []
        for headers in ({}, forged):
            response = await session.post(f"{base}/api/checkout", json=ORDER, headers=headers)
            statuses.append(response.status)
    assert statuses == [201, 429]


async def sign_in(session: ClientSession, base: str, password: str) -> int:
    page = await session.get(f"{base}/admin/login")
    fields = {**hidden_fields(await page.text()), "password": password}
    response = await session.post(f"{base}/admin/login", data=fields, allow_redirects=False)
    return response.status


async def check_wrong_passwords_do_not_stop_the_operator(base: str) -> None:
    async with from_address("127.0.0.2") as attacker, from_address("127.0.0.3") as operator:
        guesses = [await sign_in(attacker, base, "guess") for _ in range(6)]
        assert guesses == [401] * 5 + [429]
        assert await sign_in(operator, base, PASSWORD) == 303
