"""Card payments in a real browser: the payment page, the hosted checkout, and a status page that updates live."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, expect

from tests.browser.flows import (
    DECLINED,
    THREE_D_SECURE,
    VISA,
    enter_card,
    expect_status,
    fill_order,
    open_status,
    pay_by_card,
    payment_id_on_checkout,
    screenshot,
    start_checkout,
    status_screenshot,
)
from tests.browser.harness import Paydesk, Problems

PAID = "Paid"
DECLINED_TITLE = "Your payment was declined"


async def test_paying_with_4242_turns_the_open_status_page_to_paid(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    await page.goto(paydesk.at("/"))
    await fill_order(page, quantity=2)
    await expect(page.locator("#total")).to_have_text("€30.00")
    await screenshot(page, "payment-page")
    await page.get_by_role("button", name="Continue to secure payment").click()
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")
    await expect(page.get_by_role("heading", name="Pay €30.00")).to_be_visible()
    await screenshot(page, "sandbox-checkout")
    payment_id = await payment_id_on_checkout(page)

    status = await open_status(context, paydesk, payment_id)
    await expect_status(status, "pending", "Waiting for your payment")
    await expect(status.get_by_role("link", name="Continue to payment")).to_have_attribute(
        "href", page.url
    )
    await status_screenshot(status, "pending")

    await pay_by_card(page, VISA)
    await expect_status(page, "succeeded", PAID, unchanged=False)
    await expect_status(status, "succeeded", PAID)
    await expect(status.locator("#status-detail")).to_have_text("Thank you: we received €30.00.")
    await expect(status.get_by_role("link", name="Book your class")).to_be_visible()
    await expect(status).to_have_title("Paid · Harbour Yoga Studio")
    await status_screenshot(status, "succeeded")


async def test_a_declined_card_then_4242_in_the_same_checkout(
    paydesk: Paydesk, context: BrowserContext, page: Page, problems: Problems
) -> None:
    payment_id = await start_checkout(page, paydesk)
    checkout_url = page.url
    status = await open_status(context, paydesk, payment_id)

    await enter_card(page, DECLINED)
    await expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    await expect_status(status, "declined", DECLINED_TITLE)
    await expect(status.locator("#status-detail")).to_contain_text("You can try again.")
    await expect(status.get_by_role("link", name="Try again")).to_have_attribute(
        "href", checkout_url
    )
    await status_screenshot(status, "declined")

    await pay_by_card(page, VISA)  # the same session, still open after the decline
    await expect_status(page, "succeeded", PAID, unchanged=False)
    await expect_status(status, "succeeded", PAID)


async def test_3d_secure_approved(paydesk: Paydesk, context: BrowserContext, page: Page) -> None:
    payment_id = await start_checkout(page, paydesk)
    status = await open_status(context, paydesk, payment_id)
    await enter_card(page, THREE_D_SECURE)
    await page.wait_for_url("**/authenticate")
    await screenshot(page, "sandbox-3d-secure", width=480)
    await page.get_by_role("button", name="Complete authentication").click()
    await page.wait_for_url(f"**/payments/{payment_id}?session_id=cs_test_*")
    await expect_status(page, "succeeded", PAID, unchanged=False)
    await expect_status(status, "succeeded", PAID)


async def test_3d_secure_failed_is_declined_and_can_be_retried(
    paydesk: Paydesk, context: BrowserContext, page: Page, problems: Problems
) -> None:
    payment_id = await start_checkout(page, paydesk)
    status = await open_status(context, paydesk, payment_id)
    await enter_card(page, THREE_D_SECURE)
    await page.get_by_role("button", name="Fail authentication").click()
    await expect(page.get_by_role("alert")).to_contain_text("unable to authenticate")
    await expect_status(status, "declined", DECLINED_TITLE)
    await expect(status.locator("#status-detail")).to_contain_text(
        "Your bank could not confirm that it was you."
    )
    await pay_by_card(page, VISA)
    await expect_status(status, "succeeded", PAID)
