"""A real browser against the real app: Debian's chromium driven by Playwright, paydesk on loopback.

One chromium for the whole session, a fresh browser context per test. Every test and async
fixture here runs in pytest-asyncio's session loop, so the browser (started once) and each
test's paydesk server share the loop that drives them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import stripe
from aiohttp import ClientSession, web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from server.app import create_app
from server.config import SANDBOX_SECRET_KEY, load_config
from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, Paydesk, Problems, watch
from tests.conftest import free_port
from tests.smtp_server import SmtpServer

INSTALL_TIMEOUT = 900
NO_NETWORK = (
    "Temporary failure resolving",
    "Could not resolve",
    "Network is unreachable",
    "Failed to fetch",
)
BROWSER_TESTS = Path(__file__).resolve().parent
SMTP_PORT = free_port()  # where the `smtp` fixture listens: point paydesk's SMTP_PORT here


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this folder's tests in the session loop, where the one browser lives."""
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if BROWSER_TESTS in Path(str(item.fspath)).parents and pytest_asyncio.is_async_test(item):
            item.add_marker(session_loop, append=False)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's chromium, installed with apt-get when missing (Playwright's own download cannot work here)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        )
    try:
        result = subprocess.run(
            ["bash", "-c", "apt-get update -q && apt-get install -y -q chromium"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"installing chromium took longer than {INSTALL_TIMEOUT} s")
    output = result.stdout + result.stderr
    if result.returncode != 0 or not CHROMIUM.exists():
        if any(sign in output for sign in NO_NETWORK):
            pytest.skip(
                f"chromium is not installed and Debian's package mirror cannot be reached:\n{output[-500:]}"
            )
        pytest.fail(f"apt-get install chromium failed ({result.returncode}):\n{output[-2000:]}")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    # Playwright gives each launch a new, empty profile folder (the user-data-dir) and removes it after.
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def paydesk(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Paydesk]:
    """paydesk on its embedded defaults (in-process sandbox) with its own port, database and mail folder.

    A test can add settings with `@pytest.mark.paydesk_env(NAME="value")`.
    """
    port = free_port()
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'paydesk.db'}",
        "MAIL_DIR": str(tmp_path / "mail"),
        "CHECKOUT_RATE_LIMIT": "10000",
        "LOG_LEVEL": "WARNING",
    }
    marker = request.node.get_closest_marker("paydesk_env")
    if marker:
        env.update(marker.kwargs)
    config = load_config(env, env_file=None)
    app = await create_app(config)
    # As run.py serves it (a handler runs to its end when its client goes: a browser drops a
    # favicon request whenever it navigates on, and aiohttp loses the file it was opening for a
    # cancelled handler); shutting down waits a moment for what is in flight, not the minute.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    http_client = stripe.AIOHTTPClient()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        client = stripe.StripeClient(
            SANDBOX_SECRET_KEY,
            base_addresses={"api": f"{config.public_url}/_sandbox"},
            http_client=http_client,
            max_network_retries=0,
        )
        async with ClientSession() as http:
            yield Paydesk(config.public_url, app, client, http, config.mail_dir)
    finally:
        await http_client.close_async()
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def smtp() -> AsyncIterator[SmtpServer]:
    """A mail server on loopback at SMTP_PORT, up before paydesk starts sending."""
    server = SmtpServer(SMTP_PORT)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def problems() -> Iterator[Problems]:
    """Console errors (CSP violations among them) and uncaught exceptions of this test's tabs fail it."""
    found = Problems()
    yield found
    assert found.unexpected() == [], "the browser reported errors"


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser, problems: Problems) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (cookies, cache, storage) whose every tab is watched for errors."""
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(10_000)
    watch(context, problems)
    try:
        yield context
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "paydesk_env(**settings): extra settings for the browser tests' paydesk"
    )
