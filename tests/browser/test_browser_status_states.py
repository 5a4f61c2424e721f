"""Every state the status and cancel pages can show, reached the way it happens, each with its own picture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from server.web.keys import db_key
from tests.browser.flows import (
    DISPUTED,
    THREE_D_SECURE,
    enter_card,
    expect_status,
    fill_order,
    mark,
    open_status,
    pay_by_card,
    screenshot,
    start_checkout,
    status_screenshot,
)
from tests.browser.harness import DESKTOP, Paydesk, Problems

YEN_CATALOG = Path(__file__).resolve().parent / "catalog_yen.toml"
OK = "rgb(30, 107, 58)"  # --ok in static/style.css: a green tick
WARN = "rgb(138, 90, 0)"  # --warn: the amber warning


async def test_back_from_checkout_before_the_webhook_says_confirming(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    # As if the customer were back from the checkout and Stripe's event had not arrived yet.
    status = await open_status(context, paydesk, payment_id, "?session_id=cs_test_early")
    await expect(status.locator("#status")).to_have_class("status-card status-confirming")
    await expect(status.locator("#status-title")).to_have_text("Confirming your payment…")
    await expect(status.locator("#status-actions")).to_be_empty()
    await status_screenshot(status, "confirming")
    await pay_by_card(page)
    await expect_status(status, "succeeded", "Paid")


async def test_an_expired_checkout(paydesk: Paydesk, context: BrowserContext, page: Page) -> None:
    payment_id = await start_checkout(page, paydesk)
    status = await open_status(context, paydesk, payment_id)
    session_id = (await paydesk.payment(payment_id)).checkout_session_id
    assert session_id
    await paydesk.stripe.v1.checkout.sessions.expire_async(session_id)
    await expect_status(status, "expired", "This checkout has expired")
    await expect(status.locator("#status-detail")).to_contain_text("Nothing was charged.")
    await expect(status.get_by_role("link", name="Start a new payment")).to_be_visible()
    await expect(status.locator("#live-note")).to_be_empty()
    await status_screenshot(status, "expired")


async def test_a_dispute_reaches_the_paid_page(paydesk: Paydesk, page: Page) -> None:
    await start_checkout(page, paydesk)
    await pay_by_card(page, DISPUTED)
    await mark(page)
    await expect_status(page, "succeeded", "Paid", unchanged=False)
    await paydesk.run_timers(within=10)  # the dispute opens; its decision is further away
    await expect_status(page, "disputed", "This payment is disputed")
    await status_screenshot(page, "disputed")


async def test_a_checkout_that_could_not_start(
    paydesk: Paydesk, page: Page, problems: Problems
) -> None:
    problems.allow(
        "status of 502"
    )  # the payment page is answered 502 when Stripe cannot be reached
    await paydesk.add_fault(
        path_prefix="/v1/checkout/sessions", method="POST", status=500, count=10
    )
    await page.goto(paydesk.at("/"))
    await fill_order(page)
    await page.get_by_role("button", name="Continue to secure payment").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_label("Your name")).to_have_value(
        "Ada Lovelace"
    )  # nothing to type again
    await expect(page.get_by_role("button", name="Continue to secure payment")).to_be_enabled()
    await screenshot(page, "payment-page-error", width=480)

    row = await paydesk.app[db_key].fetch_one(
        "SELECT id FROM payments WHERE status = 'not_started'"
    )
    assert row is not None
    await page.goto(paydesk.at(f"/payments/{row['id']}"))
    await expect_status(page, "not_started", "Your payment could not be started", unchanged=False)
    await expect(page.get_by_role("link", name="Start a new payment")).to_be_visible()
    await status_screenshot(page, "not_started")


@pytest.mark.paydesk_env(CATALOG=str(YEN_CATALOG))
async def test_zero_decimal_currency_logo_and_accent(paydesk: Paydesk, page: Page) -> None:
    await page.goto(paydesk.at("/"))
    await expect(page.locator(".brand-logo")).to_be_visible()
    await expect(page.locator(".product-card", has_text="Coffee tasting set")).to_contain_text(
        "¥4,500"
    )
    await fill_order(page, "tasting-set", quantity=3, name="Sato Hana", email="hana@example.com")
    await expect(page.locator("#total")).to_have_text("¥13,500")
    accent = await page.locator("#pay-button").evaluate("b => getComputedStyle(b).backgroundColor")
    assert accent == "rgb(122, 52, 16)"  # #7a3410 from the catalog, through /theme.css

    await page.locator("#product-tip-jar").check()
    await page.get_by_role("button", name="¥3,000").click()
    await expect(page.locator("#amount-tip-jar")).to_have_value("3,000")
    await expect(page.locator("#total")).to_have_text("¥3,000")
    await page.locator("#amount-tip-jar").fill("1,250")
    await expect(page.locator("#total")).to_have_text("¥1,250")
    await page.locator("#amount-tip-jar").fill("12.5")  # yen have no decimals: no total for that
    await expect(page.locator(".order-total")).to_be_hidden()
    await screenshot(page, "payment-page-yen", width=480)

    await page.locator("#product-tasting-set").check()
    await page.get_by_role("button", name="Continue to secure payment").click()
    await page.wait_for_url("**/_sandbox/pay/cs_test_*")
    await expect(page.get_by_role("heading", name="Pay ¥13,500")).to_be_visible()
    await pay_by_card(page)
    await expect_status(page, "succeeded", "Paid", unchanged=False)
    await expect(page.locator("#status-detail")).to_have_text("Thank you: we received ¥13,500.")
    await expect(page.locator(".summary .amount")).to_have_text("¥13,500")


async def test_an_open_cancel_tab_turns_to_paid_and_stops_saying_nothing_was_charged(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    checkout_url = page.url
    cancel = await open_status(context, paydesk, payment_id, "/cancelled")
    await expect(cancel.locator("#nothing-charged")).to_contain_text("nothing was charged")
    await expect_status(cancel, "pending", "Waiting for your payment")
    await expect(cancel.get_by_role("link", name="Continue to payment")).to_have_attribute(
        "href", checkout_url
    )
    await expect(cancel.locator("#live-note")).to_have_text("This page updates by itself.")
    await screenshot(cancel, "cancel-page", width=480)

    await pay_by_card(page)  # in the checkout tab, the cancel tab left open
    await expect_status(cancel, "succeeded", "Paid")
    await expect(cancel.locator("#nothing-charged")).to_be_hidden()
    await expect(cancel.get_by_text("nothing was charged", exact=False)).to_be_hidden()


async def test_a_cancel_page_opened_after_paying_shows_paid(paydesk: Paydesk, page: Page) -> None:
    payment_id = await start_checkout(page, paydesk)
    await pay_by_card(page)
    await page.goto(paydesk.at(f"/payments/{payment_id}/cancelled"))  # a stale link, history
    await expect_status(page, "succeeded", "Paid", unchanged=False)
    await expect(page.get_by_text("nothing was charged", exact=False)).to_have_count(0)


async def test_without_javascript_the_page_does_not_claim_to_update_itself(
    paydesk: Paydesk, browser: Browser, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    no_script = await browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    try:
        tab = await no_script.new_page()
        for path in (
            f"/payments/{payment_id}",
            f"/payments/{payment_id}?session_id=cs_test_back",  # "confirming"
            f"/payments/{payment_id}/cancelled",
        ):
            await tab.goto(paydesk.at(path))
            await expect(tab.locator("#status-title")).not_to_be_empty()
            await expect(tab.locator("#live-note")).to_contain_text("Refresh this page")
            await expect(tab.get_by_text("updates by itself", exact=False)).to_have_count(0)
    finally:
        await no_script.close()


async def test_while_3d_secure_is_pending_the_page_says_the_bank_asks_to_confirm(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    status = await open_status(context, paydesk, payment_id)
    await expect_status(status, "pending", "Waiting for your payment")
    await enter_card(page, THREE_D_SECURE)
    await page.wait_for_url("**/authenticate")
    await expect_status(status, "pending", "Your bank is asking you to confirm")
    await expect(status.locator("#status-detail")).to_contain_text("Confirm the payment")
    await status_screenshot(status, "requires_action")
    await page.get_by_role("button", name="Complete authentication").click()
    await expect_status(status, "succeeded", "Paid")


async def test_a_dispute_decided_for_the_shop_shows_no_warning(
    paydesk: Paydesk, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    await pay_by_card(page, DISPUTED)
    await mark(page)
    await expect_status(page, "succeeded", "Paid", unchanged=False)
    await paydesk.run_timers(within=10)  # the dispute opens
    await expect_status(page, "disputed", "This payment is disputed")
    icon = page.locator("#status .status-icon")
    assert await background(icon) == WARN

    intent = (await paydesk.payment(payment_id)).payment_intent_id
    assert intent
    disputes = await paydesk.stripe.v1.disputes.list_async({"payment_intent": intent})
    await paydesk.stripe.v1.disputes.update_async(
        disputes.data[0].id, {"evidence": {"uncategorized_text": "winning_evidence"}}
    )
    await paydesk.run_timers(within=600)  # the bank decides: the payment stands
    await expect_status(page, "disputed", "Dispute closed")
    await expect(page.locator("#status")).to_have_class(re.compile(r"\boutcome-won\b"))
    assert await background(icon) == OK
    await status_screenshot(page, "dispute-won")


async def background(locator: Locator) -> str:
    return str(await locator.evaluate("e => getComputedStyle(e).backgroundColor"))
