"""The account's balance transactions: what a charge brings in less Stripe's fee, what refunds take."""

from __future__ import annotations

import time
from typing import Any

from .ids import new_id
from .money import THREE_DECIMAL, ZERO_DECIMAL
from .records import BalanceTransaction, Charge, Refund
from .state import Sandbox

# Stripe's standard pricing, (basis points, fixed part in the currency's smallest unit): cards
# issued in the EEA in EUR 1.5% + €0.25, in GBP 1.5% + 20p, US cards 2.9% + 30¢, Japan 3.6%.
CARD_FEES: dict[str, tuple[int, int]] = {
    "eur": (150, 25),
    "gbp": (150, 20),
    "usd": (290, 30),
    "jpy": (360, 0),
}
# Any other currency: 2.9% plus 30 of its smallest unit (0 for zero-decimal, 300 for three-decimal
# currencies, so the fixed part stays near 0.30 of a major unit).
DEFAULT_CARD_FEE = (290, 30)
# SEPA Direct Debit: a flat €0.35.
SEPA_DEBIT_FEE = (0, 35)
# Payouts follow a two-day rolling schedule: funds are available two days after the charge.
AVAILABLE_AFTER_S = 2 * 86400


def stripe_fee(amount: int, currency: str, payment_method_type: str) -> int:
    if payment_method_type == "sepa_debit":
        basis_points, fixed = SEPA_DEBIT_FEE
    elif currency in CARD_FEES:
        basis_points, fixed = CARD_FEES[currency]
    else:
        basis_points, fixed = DEFAULT_CARD_FEE
        if currency in ZERO_DECIMAL:
            fixed = 0
        elif currency in THREE_DECIMAL:
            fixed = 300
    # Round half up to the smallest unit.
    return (amount * basis_points + 5000) // 10000 + fixed


def _record(
    sandbox: Sandbox,
    *,
    amount: int,
    currency: str,
    fee: int,
    kind: str,
    source_id: str,
    description: str | None,
) -> BalanceTransaction:
    now = int(time.time())
    details = []
    if fee:
        details = [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
    transaction = BalanceTransaction(
        id=new_id("txn"),
        created=now,
        amount=amount,
        currency=currency,
        fee=fee,
        fee_details=details,
        type=kind,
        source_id=source_id,
        description=description,
        available_on=now + round(sandbox.settings.scaled(AVAILABLE_AFTER_S)),
    )
    sandbox.store.balance_transactions[transaction.id] = transaction
    return transaction


def record_charge(sandbox: Sandbox, charge: Charge) -> BalanceTransaction:
    method = sandbox.store.payment_methods[charge.payment_method_id]
    fee = stripe_fee(charge.amount, charge.currency, method.type)
    return _record(
        sandbox,
        amount=charge.amount,
        currency=charge.currency,
        fee=fee,
        kind="charge",
        source_id=charge.id,
        description=charge.description,
    )


def record_refund(sandbox: Sandbox, refund: Refund) -> BalanceTransaction:
    # Stripe keeps its fee on a refunded charge: the whole refund comes off the balance.
    return _record(
        sandbox,
        amount=-refund.amount,
        currency=refund.currency,
        fee=0,
        kind="refund",
        source_id=refund.id,
        description=f"REFUND FOR CHARGE ({refund.charge_id})",
    )


def record_refund_failure(sandbox: Sandbox, refund: Refund) -> BalanceTransaction:
    return _record(
        sandbox,
        amount=refund.amount,
        currency=refund.currency,
        fee=0,
        kind="refund_failure",
        source_id=refund.id,
        description=f"REFUND FAILURE ({refund.charge_id})",
    )


def render_balance_transaction(transaction: BalanceTransaction) -> dict[str, Any]:
    available = time.time() >= transaction.available_on
    return {
        "id": transaction.id,
        "object": "balance_transaction",
        "amount": transaction.amount,
        "available_on": transaction.available_on,
        "balance_type": "payments",
        "created": transaction.created,
        "currency": transaction.currency,
        "description": transaction.description,
        "exchange_rate": None,
        "fee": transaction.fee,
        "fee_details": [dict(detail) for detail in transaction.fee_details],
        "net": transaction.net,
        # For these three types the reporting category is the type itself.
        "reporting_category": transaction.type,
        "source": transaction.source_id,
        "status": "available" if available else "pending",
        "type": transaction.type,
    }
