"""The payment page while the checkout is being created: a busy button that cannot send the form twice."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from server.web.keys import db_key
from tests.browser.flows import fill_order
from tests.browser.harness import Paydesk

BUSY = """() => {
  const button = document.getElementById("pay-button");
  return button.disabled
    && button.getAttribute("aria-busy") === "true"
    && button.textContent.trim() === "Starting secure checkout…"
    && getComputedStyle(button.querySelector(".spinner")).display !== "none";
}"""


async def test_the_pay_button_is_busy_while_the_checkout_starts(
    paydesk: Paydesk, page: Page
) -> None:
    # Stripe takes its time: the customer sees that something is happening, and cannot pay twice.
    await paydesk.add_fault(path_prefix="/v1/checkout/sessions", method="POST", delay=3)
    await page.goto(paydesk.at("/"))
    await fill_order(page)
    button = page.locator("#pay-button")
    # Playwright's click waits for the navigation it starts; look at the page meanwhile.
    clicking = asyncio.create_task(button.click())
    # Locators and evaluate() wait for the navigation under way; a polled predicate looks at the
    # page still shown, which must say it is busy within a moment of the click.
    await page.wait_for_function(BUSY, timeout=1000)
    await clicking
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")
    row = await paydesk.app[db_key].fetch_one("SELECT count(*) FROM payments")
    assert row is not None and row[0] == 1

    await page.go_back()  # changed their mind on the checkout page
    await expect(page.get_by_role("button", name="Continue to secure payment")).to_be_enabled()
