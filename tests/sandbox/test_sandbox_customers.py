"""Customers at Checkout: made at completion (`customer_creation`), saved cards, offered back."""

from __future__ import annotations

import re
from typing import Any

import pytest
import stripe
from sandbox_helpers import (
    DECLINED,
    IBAN_SUCCEEDS,
    SUCCESS_URL,
    THREE_D_SECURE,
    VISA,
    Harness,
    session_params,
)

SAVE_BOX = 'name="save_payment_method"'
SAVE_ON = {"payment_method_save": "enabled"}


def _for_customer(customer_id: str, **overrides: Any) -> dict[str, Any]:
    """A session for a known Customer: Stripe takes `customer` instead of `customer_email`."""
    params = session_params(customer=customer_id, **overrides)
    del params["customer_email"]
    return params


async def _paid_as_new_customer(
    sandbox: Harness, save: bool, number: str = VISA, **overrides: Any
) -> stripe.checkout.Session:
    """A first checkout that makes its Customer at completion; the card saved when `save`."""
    session = await sandbox.create_session(
        customer_creation="always", saved_payment_method_options=SAVE_ON, **overrides
    )
    form = {"card_number": number, "exp": "12/34", "cvc": "123", "cardholder_name": "Ada"}
    if save:
        form["save_payment_method"] = "1"
    answer = await sandbox.post_page(session.url, form)
    assert answer.status == 303
    return await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)


async def test_customer_creation_always_makes_a_customer_at_completion(sandbox: Harness) -> None:
    session = await sandbox.create_session(customer_creation="always")
    assert session.customer is None  # nothing is made before the customer pays
    assert session.customer_creation == "always"
    await sandbox.post_page(
        session.url,
        {"card_number": VISA, "exp": "12/34", "cvc": "123", "cardholder_name": "Ada Lovelace"},
    )
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert paid.customer is not None and paid.customer.startswith("cus_")
    customer = await sandbox.client.v1.customers.retrieve_async(paid.customer)
    assert (customer.email, customer.name) == ("buyer@example.com", "Ada Lovelace")
    types = await sandbox.event_types()
    assert types.index("customer.created") < types.index("checkout.session.completed")


async def test_without_customer_creation_a_one_off_payment_makes_no_customer(
    sandbox: Harness,
) -> None:
    session = await sandbox.create_session()
    assert session.customer_creation == "if_required"
    await sandbox.pay_by_card(session.url, VISA)
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert paid.status == "complete" and paid.customer is None
    assert (await sandbox.client.v1.customers.list_async()).data == []


async def test_a_ticked_save_box_saves_the_card_and_the_next_checkout_offers_it(
    sandbox: Harness,
) -> None:
    first = await sandbox.create_session(
        customer_creation="always", saved_payment_method_options=SAVE_ON
    )
    page = await sandbox.get_page(first.url)
    assert SAVE_BOX in page.text
    assert "Save my card for future purchases" in page.text
    paid = await _paid_as_new_customer(sandbox, save=True)
    assert paid.customer is not None
    saved = await sandbox.client.v1.customers.payment_methods.list_async(paid.customer)
    assert [(m.card.last4, m.allow_redisplay, m.customer) for m in saved.data if m.card] == [
        ("4242", "always", paid.customer)
    ]
    assert "payment_method.attached" in await sandbox.event_types()

    second = await sandbox.client.v1.checkout.sessions.create_async(_for_customer(paid.customer))
    page = await sandbox.get_page(second.url)
    assert "Pay with saved card •••• 4242" in page.text
    method_id = saved.data[0].id
    assert f'value="{method_id}"' in page.text
    answer = await sandbox.post_page(second.url, {"saved_payment_method": method_id})
    assert answer.status == 303
    assert answer.location == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", second.id)
    done = await sandbox.client.v1.checkout.sessions.retrieve_async(
        second.id, {"expand": ["payment_intent"]}
    )
    assert (done.status, done.payment_status, done.customer) == ("complete", "paid", paid.customer)
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.payment_method == method_id


async def test_an_unticked_box_saves_nothing(sandbox: Harness) -> None:
    paid = await _paid_as_new_customer(sandbox, save=False)
    assert paid.customer is not None
    saved = await sandbox.client.v1.customers.payment_methods.list_async(paid.customer)
    assert saved.data == []
    again = await sandbox.client.v1.checkout.sessions.create_async(_for_customer(paid.customer))
    assert "saved card" not in (await sandbox.get_page(again.url)).text


async def test_without_payment_method_save_there_is_no_box_and_a_forged_tick_saves_nothing(
    sandbox: Harness,
) -> None:
    session = await sandbox.create_session(customer_creation="always")
    assert SAVE_BOX not in (await sandbox.get_page(session.url)).text
    form = {"card_number": VISA, "exp": "12/34", "cvc": "123", "save_payment_method": "1"}
    await sandbox.post_page(session.url, form)
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert paid.customer is not None
    assert (await sandbox.client.v1.customers.payment_methods.list_async(paid.customer)).data == []


async def test_a_guest_checkout_has_no_box_since_there_is_no_customer_to_save_to(
    sandbox: Harness,
) -> None:
    session = await sandbox.create_session(saved_payment_method_options=SAVE_ON)
    assert SAVE_BOX not in (await sandbox.get_page(session.url)).text


async def test_a_card_saved_through_3d_secure_is_saved_once_authenticated(
    sandbox: Harness,
) -> None:
    session = await sandbox.create_session(
        customer_creation="always", saved_payment_method_options=SAVE_ON
    )
    form = {"card_number": THREE_D_SECURE, "exp": "12/34", "cvc": "123"}
    answer = await sandbox.post_page(session.url, {**form, "save_payment_method": "1"})
    await sandbox.post_page(sandbox.absolute(answer.location or ""), {"outcome": "approve"})
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert paid.customer is not None
    saved = await sandbox.client.v1.customers.payment_methods.list_async(paid.customer)
    assert [m.card.last4 for m in saved.data if m.card] == ["3155"]


async def test_a_bank_debit_after_a_ticked_box_saves_nothing(sandbox: Harness) -> None:
    session = await sandbox.create_session(
        customer_creation="always", saved_payment_method_options=SAVE_ON
    )
    form = {"card_number": DECLINED, "exp": "12/34", "cvc": "123", "save_payment_method": "1"}
    await sandbox.post_page(session.url, form)
    await sandbox.pay_by_bank_debit(session.url, IBAN_SUCCEEDS)
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert paid.customer is not None
    assert (await sandbox.client.v1.customers.payment_methods.list_async(paid.customer)).data == []


async def test_allow_redisplay_filters_choose_which_saved_cards_are_offered(
    sandbox: Harness,
) -> None:
    paid = await _paid_as_new_customer(sandbox, save=True)
    assert paid.customer is not None
    limited_only = _for_customer(
        paid.customer, saved_payment_method_options={"allow_redisplay_filters": ["limited"]}
    )
    hidden = await sandbox.client.v1.checkout.sessions.create_async(limited_only)
    assert "saved card" not in (await sandbox.get_page(hidden.url)).text
    assert hidden.saved_payment_method_options is not None
    assert hidden.saved_payment_method_options.allow_redisplay_filters == ["limited"]
    both = _for_customer(
        paid.customer,
        saved_payment_method_options={"allow_redisplay_filters": ["always", "limited"]},
    )
    shown = await sandbox.client.v1.checkout.sessions.create_async(both)
    assert "Pay with saved card •••• 4242" in (await sandbox.get_page(shown.url)).text


async def test_another_customers_saved_card_cannot_pay(sandbox: Harness) -> None:
    owner = await _paid_as_new_customer(sandbox, save=True)
    assert owner.customer is not None
    method_id = (
        (await sandbox.client.v1.customers.payment_methods.list_async(owner.customer)).data[0].id
    )
    stranger = await sandbox.client.v1.customers.create_async({"email": "eve@example.com"})
    session = await sandbox.client.v1.checkout.sessions.create_async(_for_customer(stranger.id))
    answer = await sandbox.post_page(session.url, {"saved_payment_method": method_id})
    assert answer.status == 400
    assert "This saved card cannot pay this checkout." in answer.text
    still = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert (still.status, still.payment_intent) == ("open", None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"payment_method_save": "maybe"},
            "Invalid saved_payment_method_options[payment_method_save]",
        ),
        ({"allow_redisplay_filters": ["never"]}, "must be one of always, limited, or unspecified"),
        ({"payment_method_remove": "enabled"}, "does not support"),
    ],
)
async def test_bad_saved_payment_method_options_are_refused(
    sandbox: Harness, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.create_session(saved_payment_method_options=options)
    assert message in str(refused.value)


async def test_a_session_for_an_unknown_customer_is_refused_as_stripe_does(
    sandbox: Harness,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.client.v1.checkout.sessions.create_async(_for_customer("cus_gone"))
    assert (refused.value.code, refused.value.param) == ("resource_missing", "customer")
    assert re.search(r"No such customer: '?cus_gone'?", str(refused.value))
