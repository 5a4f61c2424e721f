"""Bank debit (SEPA, delayed notification): complete unpaid now, succeed or fail later."""

from __future__ import annotations

import pytest
import stripe
from sandbox_helpers import IBAN_FAILS, IBAN_SUCCEEDS, Harness, StartSandbox, poll


async def _intent(sandbox: Harness, session_id: str) -> stripe.PaymentIntent:
    session = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session_id, {"expand": ["payment_intent"]}
    )
    intent: stripe.PaymentIntent = session.payment_intent
    return intent


async def test_a_succeeding_iban_completes_unpaid_then_pays(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(async_payment_delay=0.2)
    session = await sandbox.create_session()
    answer = await sandbox.pay_by_bank_debit(session.url, IBAN_SUCCEEDS)
    assert answer.status == 303
    assert answer.location == f"http://shop.test/done?session={session.id}"
    submitted = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert (submitted.status, submitted.payment_status) == ("complete", "unpaid")
    intent = await _intent(sandbox, session.id)
    assert intent.status == "processing"
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert charge.status == "pending"
    assert charge.payment_method_details.type == "sepa_debit"
    assert charge.payment_method_details.sepa_debit.last4 == "3000"

    async def read() -> str:
        return (await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)).payment_status

    assert await poll(read, lambda status: status == "paid") == "paid"  # by the timer
    assert (await _intent(sandbox, session.id)).status == "succeeded"
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "charge.pending",
        "payment_intent.processing",
        "checkout.session.completed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.async_payment_succeeded",
    ]


async def test_a_failing_iban_completes_unpaid_then_fails(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    assert (await sandbox.pay_by_bank_debit(session.url, IBAN_FAILS)).status == 303
    assert await sandbox.run_timers() >= 1  # fast-forward past async_payment_delay
    final = await sandbox.client.v1.checkout.sessions.retrieve_async(session.id)
    assert (final.status, final.payment_status) == ("complete", "unpaid")
    intent = await _intent(sandbox, session.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "insufficient_funds"
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.status, charge.failure_code) == ("failed", "insufficient_funds")
    assert await sandbox.event_types() == [
        "payment_intent.created",
        "charge.pending",
        "payment_intent.processing",
        "checkout.session.completed",
        "charge.failed",
        "payment_intent.payment_failed",
        "checkout.session.async_payment_failed",
    ]


@pytest.mark.parametrize(
    ("iban", "message"),
    [
        ("DE89 3704 0044 0532 0130 01", "Your IBAN is invalid."),
        ("GB82 WEST 1234 5698 7654 32", "In test mode, use a test IBAN"),
    ],
)
async def test_an_unusable_iban_is_refused_on_the_page(
    sandbox: Harness, iban: str, message: str
) -> None:
    session = await sandbox.create_session()
    answer = await sandbox.pay_by_bank_debit(session.url, iban)
    assert answer.status == 400
    assert message in answer.text
    assert '<details class="bank-debit" open>' in answer.text
    assert await sandbox.event_types() == []


async def test_card_only_sessions_offer_no_bank_debit(sandbox: Harness) -> None:
    session = await sandbox.create_session(payment_method_types=["card"])
    page = await sandbox.get_page(session.url)
    assert "bank debit" not in page.text
    answer = await sandbox.pay_by_bank_debit(session.url, IBAN_SUCCEEDS)
    assert answer.status == 400
    assert "does not accept bank debits" in answer.text


async def test_fast_forward_within_a_horizon_leaves_later_timers_pending(sandbox: Harness) -> None:
    session = await sandbox.create_session()  # expires in an hour
    await sandbox.pay_by_bank_debit(session.url, IBAN_SUCCEEDS)  # settles in 3 s
    waiting = [
        timer["name"] for timer in (await sandbox.control("GET", "/_control/timers"))["timers"]
    ]
    assert waiting == [
        f"settle bank debit {(await _intent(sandbox, session.id)).id}",
        f"expire {session.id}",
    ]
    # The debit settles, and the balance transaction it schedules 3 s later comes too.
    assert (await sandbox.control("POST", "/_control/timers/run", {"within": 60}))["ran"] == 2
    assert (await _intent(sandbox, session.id)).status == "succeeded"
    still = (await sandbox.control("GET", "/_control/timers"))["timers"]
    assert [timer["name"] for timer in still] == [f"expire {session.id}"]
    refused = await sandbox.control("POST", "/_control/timers/run", {"within": "soon"})
    assert "error" in refused


def _in(currency: str) -> list[dict[str, object]]:
    return [
        {
            "price_data": {
                "currency": currency,
                "unit_amount": 1000,
                "product_data": {"name": "Poster"},
            },
            "quantity": 1,
        }
    ]


@pytest.mark.parametrize("currency", ["usd", "gbp", "chf"])
async def test_bank_debit_asked_for_outside_the_euro_is_stripes_error(
    sandbox: Harness, currency: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.create_session(
            line_items=_in(currency), payment_method_types=["card", "sepa_debit"]
        )
    error = refused.value
    assert error.http_status == 400
    assert error.param == "payment_method_types"
    assert error.user_message == (
        f"Invalid currency options ``{currency}``. The payment method `sepa_debit` only "
        "supports the following currencies: ``eur``."
    )
    assert (await sandbox.client.v1.checkout.sessions.list_async()).data == []


async def test_a_session_outside_the_euro_offers_cards_only(sandbox: Harness) -> None:
    session = await sandbox.create_session(line_items=_in("usd"))
    assert session.payment_method_types == ["card"]
    page = await sandbox.get_page(session.url)
    assert "bank debit" not in page.text
    answer = await sandbox.pay_by_bank_debit(session.url, IBAN_SUCCEEDS)
    assert answer.status == 400
    assert await sandbox.event_types() == []
    euro = await sandbox.create_session()
    assert euro.payment_method_types == ["card", "sepa_debit"]
