"""A refund made at Stripe while the customer's status page is open: the page turns to "refunded" by itself."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.flows import expect_status, mark, pay_by_card, start_checkout, status_screenshot
from tests.browser.harness import Paydesk


async def test_refunds_reach_the_open_status_page_live(paydesk: Paydesk, page: Page) -> None:
    # Refunded at Stripe directly (its dashboard, or the API): paydesk learns of it from the webhook.
    # The console's own refund button is test_browser_console.py.
    payment_id = await start_checkout(page, paydesk, product="ten-class-pass")
    await pay_by_card(page)
    await mark(page)
    await expect_status(page, "succeeded", "Paid", unchanged=False)

    await paydesk.refund(payment_id, amount=2000)
    await expect_status(page, "partially_refunded", "Paid, partly refunded")
    await expect(page.locator("#status-detail")).to_have_text(
        "€20.00 of €120.00 is refunded to how you paid."
    )
    await status_screenshot(page, "partially_refunded")

    await paydesk.refund(payment_id)  # what remains
    await expect_status(page, "refunded", "Refunded")
    await expect(page.locator("#status-detail")).to_contain_text(
        "€120.00 is refunded to how you paid."
    )
    await status_screenshot(page, "refunded")
    # Nothing follows a full refund: the page stops listening, and polls nothing more.
    await expect(page.locator("#live-status")).to_have_attribute("data-live", "ended")
    count_requests = "() => performance.getEntriesByType('resource').length"
    requests_so_far = await page.evaluate(count_requests)
    await page.wait_for_timeout(4000)  # longer than the 3 s poll while a payment is undecided
    assert await page.evaluate(count_requests) == requests_so_far
