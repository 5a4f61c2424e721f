"""The hosted checkout page over HTTP: every test card, 3-D Secure, bad input, closed sessions."""

from __future__ import annotations

import re

import pytest
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
    assert answer.status == 402
    assert message in answer.text
    assert 'role="alert"' in answer.text
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
    assert (await sandbox.pay_by_card(session.url, DECLINED)).status == 402
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
    assert failed.status == 402
    assert "unable to authenticate your payment method" in failed.text
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
