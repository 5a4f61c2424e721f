"""Helpers for the sandbox tests: a webhook receiver that verifies like paydesk, page and API steps."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from server.sandbox import SandboxSettings

T = TypeVar("T")
StartSandbox = Callable[..., Awaitable["Harness"]]
StartServer = Callable[..., Awaitable[TestServer]]

SECRET = "whsec_sandbox_tests_0123456789abcdef"
# The secret key the test sandboxes take (unless a test gives its own); any other gets a 401.
KEY = "sk_test_sandbox"
OTHER_SECRET = "whsec_rotated_secret_fedcba9876543210"
SUCCESS_URL = "http://shop.test/done?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://shop.test/cancel"

VISA = "4242 4242 4242 4242"
MASTERCARD = "5555 5555 5555 4444"
DECLINED = "4000 0000 0000 0002"
THREE_D_SECURE = "4000 0025 0000 3155"
DISPUTED = "4000 0000 0000 0259"
IBAN_SUCCEEDS = "DE89 3704 0044 0532 0130 00"
IBAN_FAILS = "DE62 3704 0044 0532 0130 01"


def session_params(**overrides: Any) -> dict[str, Any]:
    """What paydesk sends when it creates a Checkout Session."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1000,
                    "product_data": {"name": "Poster", "description": "A2, matte"},
                },
                "quantity": 2,
            }
        ],
        "customer_email": "buyer@example.com",
        "client_reference_id": "pay_1",
        "metadata": {"payment_id": "pay_1"},
        "payment_intent_data": {"metadata": {"payment_id": "pay_1"}, "description": "Poster"},
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "expires_at": int(time.time()) + 3600,
    }
    params.update(overrides)
    return params


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def eventually(check: Callable[[], bool], seconds: float = 5.0, what: str = "") -> None:
    """Wait until `check()` is true; fail the test with `what` when it never becomes true."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what or check}")
        await asyncio.sleep(0.01)


async def poll(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 5.0
) -> T:
    """Read (e.g. through the API) until `done(value)`; return the last value read."""
    deadline = time.monotonic() + seconds
    value = await read()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        value = await read()
    return value


@dataclass
class PageAnswer:
    status: int
    location: str | None
    text: str


@dataclass
class Harness:
    """A running sandbox and the clients that talk to it, like paydesk and a browser would."""

    settings: SandboxSettings
    client: stripe.StripeClient
    http: aiohttp.ClientSession

    @property
    def base_url(self) -> str:
        return self.settings.public_url

    def absolute(self, location: str) -> str:
        """A Location or href as the browser would resolve it against the sandbox's pages."""
        return str(URL(self.base_url + "/").join(URL(location)))

    async def create_session(self, **overrides: Any) -> stripe.checkout.Session:
        return await self.client.v1.checkout.sessions.create_async(session_params(**overrides))

    async def get_page(self, url: str) -> PageAnswer:
        async with self.http.get(url, allow_redirects=False) as response:
            return PageAnswer(
                response.status, response.headers.get("Location"), await response.text()
            )

    async def post_page(self, url: str, form: dict[str, str]) -> PageAnswer:
        async with self.http.post(url, data=form, allow_redirects=False) as response:
            return PageAnswer(
                response.status, response.headers.get("Location"), await response.text()
            )

    async def pay_by_card(
        self, url: str, number: str, exp: str = "12/34", cvc: str = "123"
    ) -> PageAnswer:
        return await self.post_page(url, {"card_number": number, "exp": exp, "cvc": cvc})

    async def pay_by_bank_debit(self, url: str, iban: str) -> PageAnswer:
        form = {"payment_method": "sepa_debit", "iban": iban, "account_holder": "Jenny Rosen"}
        return await self.post_page(url, form)

    async def event_types(self, **params: Any) -> list[str]:
        """Every event type so far, oldest first."""
        events = await self.client.v1.events.list_async({"limit": 100, **params})
        return [event.type for event in reversed(events.data)]

    async def raw(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """GET an API path and return the JSON as sent, without the SDK's conversions."""
        headers = {"Authorization": f"Bearer {self.settings.secret_key}"}
        url = self.base_url + path
        async with self.http.get(url, params=params or {}, headers=headers) as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
            return body

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.settings.secret_key}"}
        url = self.base_url + path
        async with self.http.request(method, url, json=body, headers=headers) as response:
            return await response.json()

    async def run_timers(self) -> int:
        answer = await self.control("POST", "/_control/timers/run")
        ran: int = answer["ran"]
        return ran


@dataclass
class Received:
    status: int
    headers: dict[str, str]
    body: bytes
    event: dict[str, Any]


@dataclass
class Receiver:
    """A webhook endpoint that verifies every delivery with the SDK, as paydesk does."""

    secret: str = SECRET
    # Statuses to answer, one per delivery, then 200.
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("Stripe-Signature")
        event = stripe.Webhook.construct_event(body, signature, self.secret, tolerance=300)
        status = self.answers.pop(0) if self.answers else 200
        self.received.append(Received(status, dict(request.headers), body, event.to_dict()))
        return web.Response(status=status, text="ok" if status < 300 else "no")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/stripe", self.handle)
        return app

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [item.event for item in self.received if 200 <= item.status < 300]

    @property
    def accepted_types(self) -> list[str]:
        return [event["type"] for event in self.accepted]

    async def wait_for_types(self, *types: str, seconds: float = 5.0) -> None:
        await eventually(
            lambda: all(t in self.accepted_types for t in types),
            seconds,
            f"webhooks {types}; got {self.accepted_types}",
        )
