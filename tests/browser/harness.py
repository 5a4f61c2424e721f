"""The browser tests' shared pieces: where chromium is, how it starts, and a handle on one running paydesk."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import stripe
from aiohttp import ClientSession, web
from playwright.async_api import BrowserContext, ConsoleMessage, Page

from server.config import SANDBOX_SECRET_KEY
from server.payments import Payment, get_payment
from server.web.keys import db_key

# The in-process sandbox's control routes take its secret key, the one paydesk presents.
SANDBOX_AUTH = {"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"}

CHROMIUM = Path("/usr/bin/chromium")
# Flags this machine needs: no sandbox as root, no GPU, and no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TEMPORARY_SCREENSHOTS = Path(tempfile.gettempdir()) / "paydesk-screenshots"
DESKTOP = {"width": 1024, "height": 800}
PHONE = {"width": 375, "height": 740}


@dataclass
class Paydesk:
    """One running paydesk: its address, its app (for the database), and the sandbox's API."""

    url: str
    app: web.Application
    stripe: stripe.StripeClient
    http: ClientSession
    mail_dir: Path

    def at(self, path: str) -> str:
        return self.url + path

    async def payment(self, payment_id: str) -> Payment:
        payment = await get_payment(self.app[db_key], payment_id)
        assert payment is not None, payment_id
        return payment

    async def run_timers(self, within: float = 600) -> int:
        """Fast-forward the sandbox: bank debit outcomes, disputes and expiries due within `within` s."""
        response = await self.http.post(
            self.at("/_sandbox/_control/timers/run"), json={"within": within}, headers=SANDBOX_AUTH
        )
        assert response.status == 200, await response.text()
        return int((await response.json())["ran"])

    async def add_fault(self, **fault: object) -> None:
        """Make the sandbox's API fail or stall (see docs/sandbox.md, control routes)."""
        response = await self.http.post(
            self.at("/_sandbox/_control/faults"), json=fault, headers=SANDBOX_AUTH
        )
        assert response.status == 201, await response.text()

    async def refund(self, payment_id: str, amount: int | None = None) -> stripe.Refund:
        """Refund through the sandbox's API, as the Stripe dashboard would."""
        payment = await self.payment(payment_id)
        assert payment.payment_intent_id, "the payment has no PaymentIntent yet"
        params: stripe.Refund.CreateParams = {"payment_intent": payment.payment_intent_id}
        if amount is not None:
            params["amount"] = amount
        return await self.stripe.v1.refunds.create_async(params)


@dataclass
class Problems:
    """What the browser complained about: console errors (CSP violations among them) and page errors."""

    messages: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        """Expect console errors containing `fragment` (a test that breaks something on purpose)."""
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(a in m for a in self.allowed)]


def watch(context: BrowserContext, problems: Problems) -> None:
    """Record errors from every tab of `context`, those opened later included."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.messages.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_page(new_page: Page) -> None:
        new_page.on("console", on_console)
        new_page.on("pageerror", lambda error: problems.messages.append(f"pageerror: {error}"))

    context.on("page", on_page)
