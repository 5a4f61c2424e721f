"""Bank debit in a real browser: "processing" while the bank answers, then the outcome pushed to the open page."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.flows import (
    IBAN_FAILS,
    IBAN_SUCCEEDS,
    expect_status,
    mark,
    pay_by_bank_debit,
    start_checkout,
    status_screenshot,
)
from tests.browser.harness import Paydesk

PROCESSING = "Your bank payment is being processed"


async def test_a_bank_debit_shows_processing_then_paid_while_the_page_stays_open(
    paydesk: Paydesk, page: Page
) -> None:
    await start_checkout(page, paydesk)
    await pay_by_bank_debit(page, IBAN_SUCCEEDS)
    await mark(page)
    await expect_status(page, "processing", PROCESSING)
    await expect(page.locator("#status-detail")).to_contain_text("we will email you")
    await expect(page.locator("#live-note")).to_have_text("This page updates by itself.")
    await status_screenshot(page, "processing")

    assert (
        await paydesk.run_timers(within=600) >= 1
    )  # the bank answers now instead of in a few seconds
    await expect_status(page, "succeeded", "Paid")


async def test_a_failed_bank_debit_is_pushed_and_offers_a_new_payment(
    paydesk: Paydesk, page: Page
) -> None:
    await start_checkout(page, paydesk, product="ten-class-pass")
    await pay_by_bank_debit(page, IBAN_FAILS)
    await mark(page)
    await expect_status(page, "processing", PROCESSING)
    await paydesk.run_timers(within=600)
    await expect_status(page, "failed", "Your bank payment failed")
    await expect(page.get_by_role("link", name="Start a new payment")).to_have_attribute(
        "href", paydesk.at("/?product=ten-class-pass")
    )
    await status_screenshot(page, "failed")
