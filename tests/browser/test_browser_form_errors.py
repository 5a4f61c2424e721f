"""The payment form after a typo or too many attempts, in Chromium: everything kept, the cursor where to fix."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.flows import fill_order, start_checkout
from tests.browser.harness import Paydesk, Problems


async def send_unchecked(page: Page) -> None:
    """Press the pay button with the browser's own checks off, so the server judges the form."""
    await page.locator("#pay-form").evaluate("form => form.noValidate = true")
    await page.get_by_role("button", name="Continue to secure payment").click()


async def test_every_typo_is_shown_at_once_and_the_cursor_starts_at_the_first(
    paydesk: Paydesk, page: Page, problems: Problems
) -> None:
    problems.allow("status of 400")
    await page.goto(paydesk.at("/?product=drop-in-class"))
    await fill_order(page, quantity=9, email="ada@")
    await send_unchecked(page)
    await expect(page.get_by_role("alert")).to_have_text(
        "Please check the highlighted fields below."
    )
    for box in ("quantity-drop-in-class", "email"):
        await expect(page.locator(f"#{box}")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator(f"#{box}-error")).to_be_visible()
    await expect(page.locator("#quantity-drop-in-class")).to_be_focused()
    await expect(page.get_by_label("Your name")).to_have_value("Ada Lovelace")
    # The address bar now says /checkout; opening it again leads back to the payment page.
    assert page.url.endswith("/checkout")
    await page.goto(page.url)
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.get_by_role("button", name="Continue to secure payment")).to_be_visible()


@pytest.mark.paydesk_env(CHECKOUT_RATE_LIMIT="1")
async def test_too_many_attempts_keep_the_form_and_say_how_long_to_wait(
    paydesk: Paydesk, page: Page, problems: Problems
) -> None:
    problems.allow("status of 400")
    problems.allow("status of 429")
    for _ in range(3):  # typos cost nothing
        await page.goto(paydesk.at("/"))
        await fill_order(page, email="ada@")
        await send_unchecked(page)
        await expect(page.locator("#email-error")).to_be_visible()
    await start_checkout(page, paydesk)
    await page.goto(paydesk.at("/"))
    await fill_order(page, quantity=3, name="Grace Hopper", email="grace@example.com")
    await page.get_by_role("button", name="Continue to secure payment").click()
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Too many payment attempts from your connection\. Try again in 1 minute\.$")
    )
    await expect(page.locator("#quantity-drop-in-class")).to_have_value("3")
    await expect(page.get_by_label("Your name")).to_have_value("Grace Hopper")
    await expect(page.get_by_label("Email for your receipt")).to_have_value("grace@example.com")
