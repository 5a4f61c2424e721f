"""A phone-sized screen, and the payment made with the keyboard alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.browser.audit import focus_ring, horizontal_overflow
from tests.browser.flows import (
    VISA,
    expect_status,
    payment_id_on_checkout,
    screenshot,
    start_checkout,
)
from tests.browser.harness import PHONE, Paydesk, Problems, watch


@pytest_asyncio.fixture(loop_scope="session")
async def phone(browser: Browser, problems: Problems) -> AsyncIterator[Page]:
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    watch(context, problems)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_paying_on_a_375_px_phone(paydesk: Paydesk, phone: Page) -> None:
    await phone.goto(paydesk.at("/"))
    assert await horizontal_overflow(phone) == 0
    await phone.locator("label[for=product-support-the-studio]").tap()
    await phone.get_by_role("button", name="€25.00").tap()
    await expect(phone.locator("#total")).to_have_text("€25.00")
    await expect(phone.get_by_role("button", name="€25.00")).to_have_attribute(
        "aria-pressed", "true"
    )
    await phone.get_by_label("Your name").fill("Ada Lovelace")
    await phone.get_by_label("Email for your receipt").fill("ada@example.com")
    await screenshot(phone, "payment-page-phone")
    await phone.get_by_role("button", name="Continue to secure payment").tap()
    await phone.wait_for_url("**/_sandbox/pay/cs_test_*")
    assert await horizontal_overflow(phone) == 0
    await screenshot(phone, "sandbox-checkout-phone")
    await phone.get_by_label("Card number").fill(VISA)
    await phone.get_by_label("Expiry (MM/YY)").fill("12/34")
    await phone.get_by_label("CVC").fill("123")
    await phone.get_by_role("button", name="Pay €25.00").tap()
    await expect_status(phone, "succeeded", "Paid", unchanged=False)
    assert await horizontal_overflow(phone) == 0
    await screenshot(phone, "status-phone")


async def test_every_page_fits_a_320_px_screen(
    paydesk: Paydesk, page: Page, problems: Problems
) -> None:
    problems.allow("status of 404")  # the not-found page, visited on purpose
    await page.set_viewport_size({"width": 320, "height": 640})
    payment_id = await start_checkout(page, paydesk, product="support-the-studio", amount="1000")
    pages = [
        "/",
        "/?product=support-the-studio",
        f"/payments/{payment_id}",
        f"/payments/{payment_id}/cancelled",
        "/payments/pay_no_such_payment",
    ]
    checkout_url = page.url
    for path in pages:
        await page.goto(paydesk.at(path))
        assert await horizontal_overflow(page) == 0, path
    await page.goto(checkout_url)
    assert await horizontal_overflow(page) == 0, checkout_url


async def tab_to(page: Page, selector: str, limit: int = 25) -> None:
    """Press Tab until `selector` has the focus, each stop showing a visible focus ring."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        ring = await focus_ring(page)
        assert ring and ring["visible"], f"no visible focus on {ring}"
        if await page.locator(selector).evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_the_payment_form_with_the_keyboard_alone(paydesk: Paydesk, page: Page) -> None:
    await page.goto(paydesk.at("/"))
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")  # to the main content, past the header
    await tab_to(page, "#product-drop-in-class")
    await page.keyboard.press("ArrowDown")
    await expect(page.locator("#product-ten-class-pass")).to_be_checked()
    await expect(page.locator("#total")).to_have_text("€120.00")
    await page.keyboard.press("ArrowDown")
    await expect(page.locator("#product-support-the-studio")).to_be_checked()
    await tab_to(page, ".preset[data-value='25,00']")
    await page.keyboard.press("Space")
    await expect(page.locator("#amount-support-the-studio")).to_have_value("25,00")
    await expect(page.locator("#total")).to_have_text("€25.00")
    await tab_to(page, "#name")
    await page.keyboard.type("Ada Lovelace")
    await page.keyboard.press("Tab")
    await expect(page.locator("#email")).to_be_focused()
    await page.keyboard.type("ada@example.com")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")
    payment_id = await payment_id_on_checkout(page)
    assert (await paydesk.payment(payment_id)).amount == 2500

    await tab_to(page, "#card_number")
    await page.keyboard.type("4242424242424242")
    await page.keyboard.press("Tab")
    await page.keyboard.type("12/34")
    await page.keyboard.press("Tab")
    await page.keyboard.type("123")
    await page.keyboard.press("Enter")
    await expect_status(page, "succeeded", "Paid", unchanged=False)
    await tab_to(page, ".back-link a")  # and on to the shop
