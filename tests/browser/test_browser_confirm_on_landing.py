"""Webhooks never reach paydesk, yet a customer back from checkout sees "Paid" within seconds, live."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, Page, Response, expect

from server.web.keys import db_key
from tests.browser.flows import VISA, enter_card, expect_status, mark, start_checkout
from tests.browser.harness import Paydesk
from tests.conftest import free_port

CONFIRMING = "Confirming your payment…"
# Words the page must not show to a customer whose payment went through.
ALARMING = re.compile(r"error|problem|wrong|declined|failed|try again|not reach", re.IGNORECASE)
LANDING = re.compile(r"/payments/pay_[^/?]+\?session_id=cs_test_")


async def send_webhooks_nowhere(paydesk: Paydesk) -> str:
    """Point the sandbox's webhook endpoint at a port nobody listens on; the dead URL."""
    dead = f"http://127.0.0.1:{free_port()}/webhooks/stripe"
    endpoints = await paydesk.stripe.v1.webhook_endpoints.list_async()
    assert endpoints.data, "the sandbox has no webhook endpoint to point elsewhere"
    for endpoint in endpoints.data:
        await paydesk.stripe.v1.webhook_endpoints.update_async(endpoint.id, {"url": dead})
    return dead


async def test_with_webhooks_lost_the_landing_page_turns_paid_by_itself(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    await send_webhooks_nowhere(paydesk)
    payment_id = await start_checkout(page, paydesk)

    landings: list[Response] = []
    page.on("response", lambda r: landings.append(r) if LANDING.search(r.url) else None)
    await enter_card(page, VISA)
    await page.wait_for_url(LANDING)
    await mark(page)
    # The page as Stripe's redirect landed on it: rendered at once, before Stripe was asked.
    assert landings, "the landing page's own response was not seen"
    assert CONFIRMING in await landings[0].text()

    await expect_status(page, "succeeded", "Paid")  # pushed live to the same document
    await expect(page.locator("#status-detail")).to_have_text("Thank you: we received €15.00.")
    shown = await page.locator("main").inner_text()
    assert not ALARMING.search(shown), shown

    # It was paydesk asking Stripe, not a webhook: every event it holds was observed.
    stored = await paydesk.app[db_key].fetch_all(
        "SELECT id FROM stripe_events WHERE payment_id = ?", (payment_id,)
    )
    assert stored and all(str(row[0]).startswith("obs_") for row in stored)
