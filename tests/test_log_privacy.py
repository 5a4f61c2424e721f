"""No log line carries a secret, token, full email or card number, even at DEBUG with the access log."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import threading
from urllib.parse import quote

from aiohttp import ClientSession, CookieJar
from yarl import URL

from tests.conftest import PROJECT_ROOT, wait_until_ok
from tests.console_helpers import hidden_fields
from tests.live import wait_for_status
from tests.pages import pay_on_hosted_page
from tests.test_run import started_paydesk, stop

SANDBOX_SECRET_KEY = "sk_test_paydesk_sandbox"  # the sandbox's public test key
CARD = "4242424242424242"
PASSWORD = "a long enough console password"
SETUP_LINK = re.compile(r"http://\S+(/admin/setup/([A-Za-z0-9_-]+))")
NEW_TOKEN = re.compile(r'value="(pdk_[^"]+)" readonly data-new-token')


class Output:
    """Every line the process writes, read as it comes so the test can wait for one."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    async def wait_for(self, pattern: re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        async with asyncio.timeout(timeout):
            while True:
                for line in list(self.lines):
                    if found := pattern.search(line):
                        return found
                await asyncio.sleep(0.05)

    def finish(self) -> list[str]:
        self._thread.join(timeout=10)
        return self.lines


def cookie_value(session: ClientSession, base: str, name: str) -> str:
    return session.cookie_jar.filter_cookies(URL(base + "/admin"))[name].value


async def test_a_whole_day_at_debug_logs_no_secret(app_env: dict[str, str]) -> None:
    webhook_secret = f"whsec_{secrets.token_urlsafe(24)}"
    email = f"ada.lovelace.{secrets.token_hex(4)}@example.com"
    env = {
        **app_env,
        "ACCESS_LOG": "1",
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": "json",
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
    }
    base = f"http://127.0.0.1:{app_env['PORT']}"
    with started_paydesk([sys.executable, "run.py"], PROJECT_ROOT, env) as process:
        output = Output(process.stdout)
        await wait_until_ok(base + "/healthz")
        link = await output.wait_for(SETUP_LINK)
        setup_path, setup_token = link.group(1), link.group(2)
        # unsafe=True: a browser's jar, which keeps cookies from an IP address such as 127.0.0.1.
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
            # The setup link sets the password and signs the operator in.
            page = await browser.get(base + setup_path)
            fields = hidden_fields(await page.text())
            done = await browser.post(
                base + setup_path,
                data={**fields, "password": PASSWORD, "confirm": PASSWORD},
                allow_redirects=False,
            )
            assert done.status == 303, await done.text()
            first_session = cookie_value(browser, base, "paydesk_admin")
            csrf_cookie = cookie_value(browser, base, "paydesk_csrf")
            await browser.post(base + "/admin/logout", data=fields)
            # A console login, and an API token made and used.
            signed_in = await browser.post(
                base + "/admin/login", data={**fields, "password": PASSWORD}
            )
            assert signed_in.status == 200, await signed_in.text()
            session = cookie_value(browser, base, "paydesk_admin")
            made = await browser.post(
                base + "/admin/settings/tokens", data={**fields, "name": "bookkeeping"}
            )
            api_token = NEW_TOKEN.search(await made.text())
            assert api_token is not None
        async with ClientSession() as script:
            listed = await script.get(
                base + "/api/admin/payments",
                # As a TLS proxy on this host would forward it.
                headers={
                    "Authorization": f"Bearer {api_token.group(1)}",
                    "X-Forwarded-For": "203.0.113.9",
                },
            )
            assert listed.status == 200, await listed.text()
            # A checkout with the customer's email, paid by card; Stripe's webhook reports it.
            answer = await script.post(
                base + "/api/checkout",
                json={"product": "drop-in-class", "name": "Ada", "email": email},
            )
            assert answer.status == 201, await answer.text()
            checkout = await answer.json()
            live = f"{base}/payments/{checkout['payment_id']}/live"
            async with script.ws_connect(live) as ws:
                assert (await pay_on_hosted_page(checkout["checkout_url"], card=CARD))[0] == 303
                await wait_for_status(ws, "succeeded", timeout=15)
        await stop(process)
        lines = output.finish()

    secrets_to_hide = {
        "the customer's email": email,
        "the customer's email, form-encoded": quote(email),
        "the setup token": setup_token,
        "the API token": api_token.group(1),
        "a session cookie": first_session,
        "the signed-in session cookie": session,
        "the CSRF cookie": csrf_cookie,
        "the webhook secret": webhook_secret,
        "the Stripe secret key": SANDBOX_SECRET_KEY,
        "the card number": CARD,
    }
    access = [json.loads(line)["message"] for line in lines if '"aiohttp.access"' in line]
    # The access log names the client behind the proxy.
    assert any(m.startswith('203.0.113.9 "GET /api/admin/payments ') for m in access), access
    # The one line that must show the setup token: the link the operator opens.
    lines = [line for line in lines if "server.console.startup" not in line]
    leaks = [
        f"{what}: {line}"
        for line in lines
        for what, secret in secrets_to_hide.items()
        if secret in line
    ]
    assert leaks == [], "\n".join(leak[:300] for leak in leaks)
    for line in lines:
        if line.startswith("{"):
            assert set(json.loads(line)) >= {"time", "level", "logger", "message"}
