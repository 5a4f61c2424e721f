"""Balance transactions: a charge's fee and net arrive in `charge.updated`; refunds take money back."""

from __future__ import annotations

import pytest
import stripe
from sandbox_helpers import VISA, Harness, StartSandbox, poll

from server.sandbox.balance import stripe_fee


async def _paid_intent(
    sandbox: Harness, amount: int = 1000, currency: str = "eur"
) -> stripe.PaymentIntent:
    return await sandbox.client.v1.payment_intents.create_async(
        {"amount": amount, "currency": currency, "payment_method": "pm_card_visa", "confirm": True}
    )


async def _charge_updated(sandbox: Harness) -> list[stripe.Event]:
    return (await sandbox.client.v1.events.list_async({"type": "charge.updated"})).data


@pytest.mark.parametrize(
    ("amount", "currency", "method", "fee"),
    [
        (1000, "eur", "card", 40),  # 1.5% + €0.25
        (2000, "gbp", "card", 50),  # 1.5% + 20p
        (1000, "usd", "card", 59),  # 2.9% + 30¢
        (4500, "jpy", "card", 162),  # 3.6%
        (1000, "chf", "card", 59),  # others: 2.9% + 30
        (1000, "huf", "card", 59),
        (5000, "eur", "sepa_debit", 35),  # flat €0.35
        (1050, "eur", "card", 41),  # 15.75 rounds half up to 16
    ],
)
def test_stripe_fees(amount: int, currency: str, method: str, fee: int) -> None:
    assert stripe_fee(amount, currency, method) == fee


async def test_a_charge_gets_its_balance_transaction_a_little_later(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox)
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)
    assert charge.balance_transaction is None  # not yet, as at Stripe
    assert charge.receipt_url.startswith(sandbox.base_url + "/receipts/")
    assert await _charge_updated(sandbox) == []

    await sandbox.run_timers()
    (updated,) = await _charge_updated(sandbox)
    assert updated.data.object.id == charge.id
    txn_id = updated.data.object.balance_transaction
    assert isinstance(txn_id, str) and txn_id.startswith("txn_")  # unexpanded, as Stripe sends it
    assert updated.data.previous_attributes.to_dict() == {"balance_transaction": None}

    txn = await sandbox.client.v1.balance_transactions.retrieve_async(txn_id)
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.object, txn.amount, txn.currency, txn.fee, txn.net) == (
        "balance_transaction",
        1000,
        "eur",
        40,
        960,
    )
    assert [(f.amount, f.currency, f.type) for f in txn.fee_details] == [(40, "eur", "stripe_fee")]
    assert (txn.type, txn.reporting_category, txn.source) == ("charge", "charge", charge.id)
    assert (txn.status, txn.exchange_rate) == ("pending", None)
    assert txn.available_on == txn.created + 2 * 86400  # two days on Stripe's clock


async def test_charge_updated_comes_by_itself_on_the_scaled_clock(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(time_scale=0.001)  # 3 Stripe seconds: 3 ms
    await _paid_intent(sandbox)
    events = await poll(lambda: _charge_updated(sandbox), bool)
    assert len(events) == 1


async def test_funds_become_available_on_the_scaled_clock(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(time_scale=0.000001)  # two days: 0.17 s
    intent = await _paid_intent(sandbox)
    await sandbox.run_timers()
    charge = await sandbox.client.v1.charges.retrieve_async(intent.latest_charge)

    async def read() -> stripe.BalanceTransaction:
        return await sandbox.client.v1.balance_transactions.retrieve_async(
            charge.balance_transaction
        )

    assert (await poll(read, lambda t: t.status == "available")).status == "available"


async def test_balance_transactions_expand_from_the_intent_and_the_charge(
    sandbox: Harness,
) -> None:
    intent = await _paid_intent(sandbox, 2000, "usd")
    await sandbox.run_timers()
    expanded = await sandbox.client.v1.payment_intents.retrieve_async(
        intent.id, {"expand": ["latest_charge.balance_transaction"]}
    )
    txn = expanded.latest_charge.balance_transaction
    assert (txn.object, txn.fee, txn.net) == ("balance_transaction", 88, 1912)
    charge = await sandbox.client.v1.charges.retrieve_async(
        intent.latest_charge, {"expand": ["balance_transaction"]}
    )
    assert charge.balance_transaction.id == txn.id


async def test_a_refund_takes_its_amount_off_the_balance(sandbox: Harness) -> None:
    intent = await _paid_intent(sandbox)
    refund = await sandbox.client.v1.refunds.create_async(
        {"payment_intent": intent.id, "amount": 400, "expand": ["balance_transaction"]}
    )
    txn = refund.balance_transaction
    assert (txn.amount, txn.fee, txn.net, txn.type, txn.source) == (
        -400,
        0,
        -400,
        "refund",
        refund.id,
    )


async def test_an_unknown_balance_transaction_is_a_404(sandbox: Harness) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sandbox.client.v1.balance_transactions.retrieve_async("txn_nope")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"


async def test_the_receipt_page_shows_the_payment_and_its_refunds(sandbox: Harness) -> None:
    session = await sandbox.create_session()
    assert (await sandbox.pay_by_card(session.url, VISA)).status == 303
    paid = await sandbox.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent.latest_charge"]}
    )
    charge = paid.payment_intent.latest_charge
    page = await sandbox.get_page(charge.receipt_url)
    assert page.status == 200
    assert "€20.00" in page.text and "Visa ending in 4242" in page.text
    assert "Refunds" not in page.text
    await sandbox.client.v1.refunds.create_async({"charge": charge.id, "amount": 500})
    page = await sandbox.get_page(charge.receipt_url)
    assert "Amount refunded: €5.00" in page.text
    assert (await sandbox.get_page(sandbox.base_url + "/receipts/payment/ch_nope")).status == 404
