"""The hosted checkout page over HTTP: every test card, 3-D Secure, bad input, closed sessions."""

from __future__ import annotations

import re
from typing import Any

import pytest
import stripe
from sandbox_helpers import (
    CANCEL_URL,
    DECLINED,
    MASTERCARD,
    THREE_D_SECURE,
    VISA,
    Harness,
    Receiver,
    session_params,
)


async def test_the_page_shows_the_order_in_test_mode_and_is_accessible(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    page = await sandbox.get_page(session.url)
    assert page.status == 200
    assert "TEST MODE" in page.text
    assert "Poster" in page.text
    assert "A2, matte" in page.text
    assert "2 × €10.00" in page.text
    assert "€20.00" in page.text
    assert f'href="{CANCEL_URL}"' in page.text
    assert "bank debit (delayed notification)" in page.text
    for field in ("card_number", "exp", "cvc", "iban", "account_holder"):
        assert re.search(rf'<label for="{field}">', page.text), field
        assert f'id="{field}"' in page.text
    assert 'autocomplete="cc-number"' in page.text
    assert '<meta name="viewport"' in page.text
    # The app's CSP (default-src 'self') applies: no inline script or style of any kind.
    assert "<script" not in page.text
    assert "<style" not in page.text
    assert "style=" not in page.text
    css = re.search(r'<link rel="stylesheet" href="([^"]+)">', page.text)
    assert css is not None
    async with sandbox.http.get(sandbox.absolute(css.group(1))) as sheet:
        assert sheet.status == 200
        assert ":focus-visible" in await sheet.text()


async def test_zero_decimal_totals_are_shown_in_whole_units(sandbox: Harness) -> None:
    items = [
        {
            "price_data": {"currency": "jpy", "unit_amount": 1500, "product_data": {"name": "Tea"}},
            "quantity": 3,
        }
    ]
    session = await sandbox.create_session(line_items=items)
    page = await sandbox.get_page(session.url)
    assert "¥4,500" in page.text
    assert "¥45.00" not in page.text


@pytest.mark.parametrize("number", [VISA, MASTERCARD, "378282246310005", "4000056655665556"])
async def test_succeeding_cards_complete_the_session_and_redirect(
    sandbox: Harness, number: str
) -> None:
    session = await sandbox.create_session()
    cvc = "1234" if number.startswith("37") else "123"
    answer = await sandbox.pay_by_card(session.url, number, cvc=cvc)
    assert answer.status == 303
    assert answer.location == f"http://shop.test/done?session={session.id}"
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent.latest_charge"]}
    )
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    assert paid.url is None
    assert paid.customer_details.email == "buyer@example.com"
    intent = paid.payment_intent
    assert (intent.status, intent.amount_received) == ("succeeded", 2000)
    charge = intent.latest_charge
    assert (charge.status, charge.paid, charge.amount) == ("succeeded", True, 2000)
    assert charge.payment_method_details.card.last4 == number.replace(" ", "")[-4:]
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


@pytest.mark.parametrize(
    ("number", "message", "code", "decline_code"),
    [
        (DECLINED, "Your card was declined.", "card_declined", "generic_decline"),
        (
            "4000 0000 0000 9995",
            "Your card has insufficient funds.",
            "card_declined",
            "insufficient_funds",
        ),
        ("4000 0000 0000 0069", "Your card has expired.", "expired_card", "expired_card"),
        (
            "4000 0000 0000 0127",
            "Your card&#39;s security code is incorrect.",
            "incorrect_cvc",
            "incorrect_cvc",
        ),
        (
            "4000 0000 0000 0119",
            "An error occurred while processing your card. Try again in a little bit.",
            "processing_error",
            "processing_error",
        ),
        (
            "4111 1111 1111 1111",  # Luhn-valid but not one of Stripe's: a "live" card
            "Your request was in test mode, but used a non test (live) card.",
            "card_declined",
            "test_mode_live_card",
        ),
    ],
)
async def test_declining_cards_show_stripes_message_and_leave_the_session_open(
    sandbox: Harness, number: str, message: str, code: str, decline_code: str
) -> None:
    session = await sandbox.create_session()
    answer = await sandbox.pay_by_card(session.url, number)
    assert answer.status == 303  # post/redirect/get: to the page that shows the decline
    assert answer.location is not None
    shown = await sandbox.get_page(sandbox.absolute(answer.location))
    assert shown.status == 200
    assert message in shown.text
    assert 'role="alert"' in shown.text
    current = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    assert (current.status, current.payment_status) == ("open", "unpaid")
    error = current.payment_intent.last_payment_error
    assert (error.type, error.code, error.decline_code) == ("card_error", code, decline_code)
    assert current.payment_intent.status == "requires_payment_method"
    charge = await sandbox.client.v1.charges.retrieve_async(error.charge)
    assert (charge.status, charge.failure_code, charge.outcome.reason) == (
        "failed",
        code,
        decline_code,
    )
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
    ]


async def test_a_decline_then_a_good_card_pays_the_same_session(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    assert (await sandbox.pay_by_card(session.url, DECLINED)).status == 303
    answer = await sandbox.pay_by_card(session.url, VISA)
    assert answer.status == 303
    charges = await sandbox.client.v1.charges.list_async()
    assert [c.status for c in charges.data] == ["succeeded", "failed"]
    assert charges.data[0].payment_intent == charges.data[1].payment_intent
    assert await sandbox.event_types() == [
        "payment_intent.created",  # only at the first attempt
        "charge.failed",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


async def test_3d_secure_approved_completes_the_payment(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    answer = await sandbox.pay_by_card(session.url, THREE_D_SECURE)
    assert answer.status == 303
    assert answer.location is not None
    assert answer.location.endswith("/authenticate")
    challenge_url = sandbox.absolute(answer.location)
    challenge = await sandbox.get_page(challenge_url)
    assert challenge.status == 200
    assert "3-D Secure" in challenge.text
    assert "TEST MODE" in challenge.text
    waiting = await sandbox.client.v1.payment_intents.list_async()
    assert waiting.data[0].status == "requires_action"
    approved = await sandbox.post_page(challenge_url, {"outcome": "approve"})
    assert approved.status == 303
    assert approved.location == f"http://shop.test/done?session={session.id}"
    charge = (await sandbox.client.v1.charges.list_async()).data[0]
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


async def test_3d_secure_failed_leaves_the_session_open_for_another_try(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    answer = await sandbox.pay_by_card(session.url, THREE_D_SECURE)
    assert answer.location is not None
    challenge_url = sandbox.absolute(answer.location)
    failed = await sandbox.post_page(challenge_url, {"outcome": "fail"})
    assert failed.status == 303
    assert failed.location is not None
    shown = await sandbox.get_page(sandbox.absolute(failed.location))
    assert "unable to authenticate your payment method" in shown.text
    current = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    assert current.status == "open"
    error = current.payment_intent.last_payment_error
    assert error.code == "payment_intent_authentication_failure"
    assert current.payment_intent.status == "requires_payment_method"
    assert (await sandbox.client.v1.charges.list_async()).data == []  # no charge without 3DS
    # The challenge is over: going back to it leads to the payment form.
    assert (await sandbox.get_page(challenge_url)).status == 303
    assert (await sandbox.pay_by_card(session.url, VISA)).status == 303
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"card_number": "4242 4242 4242 4241"}, "card_number", "Your card number is invalid."),
        ({"exp": "01/20"}, "exp", "Your card&#39;s expiration year is in the past."),
        ({"cvc": "12"}, "cvc", "Your card&#39;s security code is incomplete."),
        ({"email": "not-an-email"}, "email", "Your email address is invalid."),
    ],
)
async def test_invalid_input_is_marked_on_its_field_and_charges_nothing(
    sandbox: Harness, form: dict[str, str], field: str, message: str
) -> None:
    params = session_params()
    del params["customer_email"]  # so the page asks for an email address
    session = await sandbox.client.v1.checkout.sessions.create_async(params)
    answer = await sandbox.post_page(
        session.url, {"card_number": VISA, "exp": "12/34", "cvc": "123", **form}
    )
    assert answer.status == 400
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in answer.text
    assert f'aria-describedby="{field}-error"' in answer.text
    assert await sandbox.event_types() == []
    assert (await sandbox.client.v1.charges.list_async()).data == []


async def test_completed_and_expired_sessions_say_so(sandbox: Harness) -> None:
    paid = await sandbox.create_session()
    await sandbox.pay_by_card(paid.url, VISA)
    page = await sandbox.get_page(paid.url)
    assert page.status == 200
    assert "This payment is complete" in page.text
    again = await sandbox.pay_by_card(paid.url, VISA)
    assert again.status == 409
    assert "This payment is complete" in again.text

    expired = await sandbox.create_session()
    await sandbox.client.v1.checkout.sessions.expire_async(expired.id)
    page = await sandbox.get_page(expired.url)
    assert "This checkout session has expired" in page.text
    assert (await sandbox.pay_by_card(expired.url, VISA)).status == 409

    missing = await sandbox.get_page(sandbox.base_url + "/pay/cs_test_missing")
    assert missing.status == 404
    assert "does not exist" in missing.text


async def test_without_a_success_url_the_page_confirms_the_payment(sandbox: Harness) -> None:
    params = session_params()
    del params["success_url"]
    session = await sandbox.client.v1.checkout.sessions.create_async(params)
    answer = await sandbox.pay_by_card(session.url, VISA)
    assert answer.status == 303
    assert answer.location == session.url
    assert "This payment is complete" in (await sandbox.get_page(session.url)).text


async def test_the_index_page_lists_sessions_events_and_deliveries(
    delivering: Harness, receiver: Receiver
) -> None:
    session = await delivering.create_session()
    await delivering.pay_by_card(session.url, VISA)
    await receiver.wait_for_types("checkout.session.completed")
    page = await delivering.get_page(delivering.base_url + "/")
    assert page.status == 200
    assert "TEST MODE" in page.text
    assert session.id[:20] in page.text
    assert "checkout.session.completed" in page.text
    assert "delivered" in page.text
    assert receiver.url in page.text


async def test_reloading_the_page_that_shows_a_decline_does_not_pay_again(
    sandbox: Harness,
) -> None:
    session = await sandbox.create_session()
    declined = await sandbox.pay_by_card(session.url, DECLINED)
    assert declined.status == 303
    assert declined.location == f"/pay/{session.id}?declined="
    for _ in range(3):  # what the browser's reload sends: a GET
        page = await sandbox.get_page(sandbox.absolute(declined.location))
        assert page.status == 200
        assert "Your card was declined." in page.text
    charges = await sandbox.client.v1.charges.list_async()
    assert [charge.status for charge in charges.data] == ["failed"]
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
    ]
    # The form itself stays clean of the old decline, and a good card still pays.
    fresh = await sandbox.get_page(session.url)
    assert "Your card was declined." not in fresh.text
    assert (await sandbox.pay_by_card(session.url, VISA)).status == 303
    after = await sandbox.get_page(sandbox.absolute(declined.location))
    assert "Your card was declined." not in after.text  # paid: nothing left to retry


def _for_customer(**overrides: Any) -> dict[str, Any]:
    params = session_params(**overrides)
    del params["customer_email"]  # Stripe takes `customer` or `customer_email`, not both
    return params


async def test_a_customers_email_and_name_are_pre_filled(sandbox: Harness) -> None:
    customer = await sandbox.client.v1.customers.create_async(
        {"email": "ada@example.com", "name": "Ada Lovelace"}
    )
    session = await sandbox.client.v1.checkout.sessions.create_async(
        _for_customer(customer=customer.id)
    )
    assert (session.customer, session.customer_email) == (customer.id, None)
    page = await sandbox.get_page(session.url)
    assert "Email <strong>ada@example.com</strong>" in page.text
    assert 'name="email"' not in page.text  # known, so not asked again
    assert re.search(r'name="cardholder_name" type="text" value="Ada Lovelace"', page.text)
    assert re.search(r'name="account_holder" type="text" value="Ada Lovelace"', page.text)
    assert '<details class="bank-debit">' in page.text  # pre-filled, still folded away

    assert (await sandbox.pay_by_card(session.url, VISA)).status == 303
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert (paid.customer_details.email, paid.customer_details.name) == (
        "ada@example.com",
        "Ada Lovelace",
    )


async def test_customer_email_alone_pre_fills_the_email_but_no_name(sandbox: Harness) -> None:
    session = await sandbox.create_session(customer_email="grace@example.com")
    page = await sandbox.get_page(session.url)
    assert "Email <strong>grace@example.com</strong>" in page.text
    assert re.search(r'name="cardholder_name" type="text"[^>]*>', page.text)
    assert 'name="cardholder_name" type="text" value=' not in page.text


async def test_what_the_customer_types_wins_over_the_pre_filled_name(sandbox: Harness) -> None:
    customer = await sandbox.client.v1.customers.create_async({"name": "Ada Lovelace"})
    session = await sandbox.client.v1.checkout.sessions.create_async(
        _for_customer(customer=customer.id)
    )
    form = {"card_number": DECLINED, "exp": "12/34", "cvc": "123", "cardholder_name": "A. King"}
    await sandbox.post_page(session.url, form)
    [charge] = (await sandbox.client.v1.charges.list_async()).data
    assert charge.billing_details.name == "A. King"


async def test_customer_and_customer_email_together_are_refused(sandbox: Harness) -> None:
    customer = await sandbox.client.v1.customers.create_async({"email": "ada@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.create_session(customer=customer.id)
    assert refused.value.user_message == (
        "You may only specify one of these parameters: customer, customer_email."
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sandbox.client.v1.checkout.sessions.create_async(_for_customer(customer="cus_nope"))
    assert (missing.value.code, missing.value.param) == ("resource_missing", "customer")
    assert (await sandbox.client.v1.checkout.sessions.list_async()).data == []
