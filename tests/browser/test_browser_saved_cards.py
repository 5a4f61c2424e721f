"""A returning customer in a real browser: the card saved at the first checkout pays the second."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import Page, expect

from server import customers
from server.web.keys import db_key
from tests.browser.audit import audit
from tests.browser.flows import VISA, enter_card, expect_status, start_checkout
from tests.browser.harness import Paydesk

SAVE_BOX = "Save my card for future purchases with this shop"
BACK_ON_STATUS = re.compile(r"/payments/pay_[^/?]+\?session_id=cs_test_")


async def customer_recorded(paydesk: Paydesk, email: str) -> str:
    """Wait (with a deadline) for the completed checkout's Customer to be recorded for `email`."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = await customers.customer_for(paydesk.app[db_key], email)
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no Customer recorded for {email}")


@pytest.mark.paydesk_env(SAVE_PAYMENT_METHODS="1")
async def test_a_saved_card_is_offered_to_the_returning_customer_and_pays(
    paydesk: Paydesk, page: Page
) -> None:
    first = await start_checkout(page, paydesk, email="ada@example.com")
    await expect(page.get_by_role("button", name=re.compile("saved card"))).to_have_count(0)
    assert await audit(page) == []  # the save box is labelled, big enough, readable
    await page.get_by_label(SAVE_BOX).check()
    await enter_card(page, VISA)
    await page.wait_for_url(BACK_ON_STATUS)
    await expect_status(page, "succeeded", "Paid", unchanged=False)
    customer_id = await customer_recorded(paydesk, "ada@example.com")

    # The same person, typing their email differently, comes back.
    second = await start_checkout(page, paydesk, email="ADA@example.com")
    pay_saved = page.get_by_role("button", name="Pay with saved card •••• 4242")
    await expect(pay_saved).to_be_visible()
    await expect(page.get_by_label("Visa •••• 4242")).to_be_checked()
    assert await audit(page) == []
    await pay_saved.click()  # no card typed
    await page.wait_for_url(BACK_ON_STATUS)
    await expect_status(page, "succeeded", "Paid", unchanged=False)

    sessions = [
        await paydesk.stripe.v1.checkout.sessions.retrieve_async(
            session_id, {"expand": ["payment_intent"]}
        )
        for session_id in [
            (await paydesk.payment(payment_id)).checkout_session_id or ""
            for payment_id in (first, second)
        ]
    ]
    assert [session.customer for session in sessions] == [customer_id, customer_id]
    saved = await paydesk.stripe.v1.customers.payment_methods.list_async(customer_id)
    [card] = saved.data
    assert (card.allow_redisplay, card.card and card.card.last4) == ("always", "4242")
    paid_with = sessions[1].payment_intent
    assert paid_with is not None and not isinstance(paid_with, str)
    assert paid_with.payment_method == card.id


async def test_with_saving_off_no_save_box_and_no_saved_card(paydesk: Paydesk, page: Page) -> None:
    first = await start_checkout(page, paydesk, email="ada@example.com")
    await expect(page.get_by_label("Card number")).to_be_visible()
    await expect(page.get_by_label(SAVE_BOX)).to_have_count(0)
    await enter_card(page, VISA)
    await page.wait_for_url(BACK_ON_STATUS)
    customer_id = await customer_recorded(paydesk, "ada@example.com")

    await start_checkout(page, paydesk, email="ada@example.com")
    await expect(page.get_by_label("Card number")).to_be_visible()
    await expect(page.get_by_text("saved card")).to_have_count(0)
    # Still the same Customer at Stripe, with nothing saved to it.
    session_id = (await paydesk.payment(first)).checkout_session_id or ""
    session = await paydesk.stripe.v1.checkout.sessions.retrieve_async(session_id)
    assert session.customer == customer_id
    saved = await paydesk.stripe.v1.customers.payment_methods.list_async(customer_id)
    assert saved.data == []
