"""The sandbox's hosted checkout in a real browser: a decline survives a reload, and what the shop knows is filled in."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.flows import (
    DECLINED,
    VISA,
    enter_card,
    expect_status,
    pay_by_card,
    start_checkout,
)
from tests.browser.harness import Paydesk


async def test_reloading_after_a_decline_shows_it_again_and_charges_nothing(
    paydesk: Paydesk, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    await enter_card(page, DECLINED)
    await page.wait_for_url(re.compile(r"/_sandbox/pay/cs_test_\w+\?declined="))
    await expect(page.get_by_role("alert")).to_have_text("Your card was declined.")

    await page.reload()  # a GET: the browser has no form to send again
    await expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    # Asked of the sandbox, not of paydesk: paydesk learns the intent only when a webhook arrives.
    session_id = (await paydesk.payment(payment_id)).checkout_session_id
    assert session_id is not None
    session = await paydesk.stripe.v1.checkout.sessions.retrieve_async(session_id)
    intent = session.payment_intent
    assert isinstance(intent, str)
    charges = await paydesk.stripe.v1.charges.list_async({"payment_intent": intent})
    assert [charge.status for charge in charges.data] == ["failed"]

    await pay_by_card(page, VISA)  # the same session, from the reloaded page
    await expect_status(page, "succeeded", "Paid", unchanged=False)


async def test_the_customers_email_and_name_are_filled_in_and_sent_back(
    paydesk: Paydesk, page: Page
) -> None:
    customer = await paydesk.stripe.v1.customers.create_async(
        {"email": "ada@example.com", "name": "Ada Lovelace"}
    )
    done = paydesk.at("/")
    session = await paydesk.stripe.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "customer": customer.id,
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 1500,
                        "product_data": {"name": "Drop-in class"},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": done,
        }
    )
    assert session.url is not None
    await page.goto(session.url)
    await expect(page.get_by_text("ada@example.com")).to_be_visible()
    await expect(page.get_by_label("Name on card")).to_have_value("Ada Lovelace")
    await page.get_by_text("Pay by bank debit").click()
    await expect(page.get_by_label("Account holder")).to_have_value("Ada Lovelace")

    await enter_card(page, VISA)
    await page.wait_for_url(done)
    paid = await paydesk.stripe.v1.checkout.sessions.retrieve_async(session.id)
    assert paid.customer_details is not None
    assert (paid.customer_details.email, paid.customer_details.name) == (
        "ada@example.com",
        "Ada Lovelace",
    )
    [charge] = (await paydesk.stripe.v1.charges.list_async()).data
    assert charge.billing_details.name == "Ada Lovelace"
