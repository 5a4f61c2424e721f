"""One payment's state machine: PaymentIntents, their charges and payment methods, and events."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import balance, disputes
from .errors import DOCS
from .events import emit
from .ids import client_secret, new_id
from .instruments import (
    BANK_DEBIT_FAILURE,
    LIVE_CARD_IN_TEST_MODE,
    TEST_CARDS,
    TEST_IBANS,
    Behaviour,
    Decline,
    card_brand,
    fingerprint,
)
from .records import (
    AUTOMATIC,
    CardDetails,
    Charge,
    Origin,
    PaymentIntent,
    PaymentMethod,
    SepaDebitDetails,
)
from .render_payments import render_payment_method
from .state import Sandbox

AUTHENTICATION_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


class CardResult(Enum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REQUIRES_ACTION = "requires_action"


@dataclass(frozen=True)
class CardOutcome:
    result: CardResult
    decline: Decline | None = None
    charge_id: str | None = None


def card_payment_method(
    sandbox: Sandbox,
    number: str,
    exp_month: int,
    exp_year: int,
    email: str | None = None,
    name: str | None = None,
) -> PaymentMethod:
    profile = TEST_CARDS.get(number)
    method = PaymentMethod(
        id=new_id("pm"),
        created=int(time.time()),
        type="card",
        card=CardDetails(
            brand=profile.brand if profile else card_brand(number),
            last4=number[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
            funding=profile.funding if profile else "credit",
            country=profile.country if profile else "US",
            fingerprint=fingerprint(number),
        ),
        billing_email=email,
        billing_name=name,
        instrument=number if profile else None,  # a real number is never kept
    )
    sandbox.store.payment_methods[method.id] = method
    return method


def sepa_payment_method(sandbox: Sandbox, iban: str, name: str, email: str | None) -> PaymentMethod:
    method = PaymentMethod(
        id=new_id("pm"),
        created=int(time.time()),
        type="sepa_debit",
        sepa_debit=SepaDebitDetails(
            bank_code=iban[4:12],
            branch_code="",
            country=iban[:2],
            last4=iban[-4:],
            fingerprint=fingerprint(iban),
        ),
        billing_email=email,
        billing_name=name,
        instrument=iban if iban in TEST_IBANS else None,
    )
    sandbox.store.payment_methods[method.id] = method
    return method


def create_intent(
    sandbox: Sandbox,
    *,
    amount: int,
    currency: str,
    payment_method_types: list[str],
    origin: Origin,
    metadata: dict[str, str] | None = None,
    description: str | None = None,
    receipt_email: str | None = None,
    automatic_payment_methods: bool = False,
    checkout_session_id: str | None = None,
) -> PaymentIntent:
    intent_id = new_id("pi")
    intent = PaymentIntent(
        id=intent_id,
        created=int(time.time()),
        amount=amount,
        currency=currency,
        client_secret=client_secret(intent_id),
        payment_method_types=payment_method_types,
        metadata=dict(metadata or {}),
        description=description,
        receipt_email=receipt_email,
        automatic_payment_methods=automatic_payment_methods,
        checkout_session_id=checkout_session_id,
    )
    sandbox.store.payment_intents[intent.id] = intent
    emit(sandbox, "payment_intent.created", intent, origin)
    return intent


def confirm_card(
    sandbox: Sandbox,
    intent: PaymentIntent,
    method: PaymentMethod,
    origin: Origin,
    *,
    authenticated: bool = False,
    next_action_url: str | None = None,
) -> CardOutcome:
    """Charge `method`; a 3-D Secure card first stops at requires_action until `authenticated`."""
    profile = TEST_CARDS.get(method.instrument or "")
    intent.payment_method_id = method.id
    if profile is not None and profile.behaviour is Behaviour.AUTHENTICATE and not authenticated:
        intent.status = "requires_action"
        intent.next_action = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": next_action_url or "",
                "source": new_id("src"),
            },
        }
        emit(sandbox, "payment_intent.requires_action", intent, origin)
        return CardOutcome(CardResult.REQUIRES_ACTION)

    decline = LIVE_CARD_IN_TEST_MODE if profile is None else profile.decline
    if decline is not None:
        charge = _new_charge(sandbox, intent, method, "failed", _declined_outcome(decline))
        charge.failure_code, charge.failure_message = decline.code, decline.message
        intent.status = "requires_payment_method"
        intent.next_action = None
        intent.latest_charge_id = charge.id
        intent.last_payment_error = card_error_body(decline, charge.id, method)
        emit(sandbox, "charge.failed", charge, origin)
        emit(sandbox, "payment_intent.payment_failed", intent, origin)
        return CardOutcome(CardResult.DECLINED, decline, charge.id)

    charge = _new_charge(sandbox, intent, method, "succeeded", _approved_outcome("normal"))
    charge.three_d_secure = authenticated
    _succeed(sandbox, intent, charge.id)
    _charge_succeeded(sandbox, charge)
    emit(sandbox, "charge.succeeded", charge, origin)
    emit(sandbox, "payment_intent.succeeded", intent, origin)
    if profile is not None and profile.behaviour is Behaviour.DISPUTE:
        charge_id = charge.id
        sandbox.timers.call_later(
            sandbox.settings.dispute_delay,
            f"open dispute on {charge_id}",
            lambda: disputes.open_dispute(sandbox, charge_id),
        )
    return CardOutcome(CardResult.SUCCEEDED, charge_id=charge.id)


def fail_authentication(sandbox: Sandbox, intent: PaymentIntent, origin: Origin) -> None:
    """The customer failed 3-D Secure: no charge is made and the PaymentIntent can be retried."""
    method = sandbox.store.payment_methods[intent.payment_method_id or ""]
    intent.status = "requires_payment_method"
    intent.next_action = None
    intent.last_payment_error = {
        "type": "invalid_request_error",
        "code": "payment_intent_authentication_failure",
        "doc_url": f"{DOCS}/payment-intent-authentication-failure",
        "message": AUTHENTICATION_FAILED,
        "payment_method": render_payment_method(method),
    }
    emit(sandbox, "payment_intent.payment_failed", intent, origin)


def start_bank_debit(sandbox: Sandbox, intent: PaymentIntent, method: PaymentMethod) -> None:
    """A SEPA debit is submitted: the charge stays pending until the bank answers."""
    charge = _new_charge(sandbox, intent, method, "pending", _approved_outcome("not_assessed"))
    intent.payment_method_id = method.id
    intent.latest_charge_id = charge.id
    intent.status = "processing"
    intent.last_payment_error = None
    emit(sandbox, "charge.pending", charge, AUTOMATIC)
    emit(sandbox, "payment_intent.processing", intent, AUTOMATIC)


def settle_bank_debit(sandbox: Sandbox, intent: PaymentIntent) -> bool:
    """The bank answered: the debit succeeds or fails as its test IBAN says. True if it succeeded."""
    charge = sandbox.store.charges[intent.latest_charge_id or ""]
    method = sandbox.store.payment_methods[charge.payment_method_id]
    account = TEST_IBANS[method.instrument or ""]
    if account.succeeds:
        charge.status = "succeeded"
        _succeed(sandbox, intent, charge.id)
        _charge_succeeded(sandbox, charge)
        emit(sandbox, "charge.succeeded", charge, AUTOMATIC)
        emit(sandbox, "payment_intent.succeeded", intent, AUTOMATIC)
        return True
    code, message = BANK_DEBIT_FAILURE
    charge.status = "failed"
    charge.failure_code, charge.failure_message = code, message
    charge.outcome = {
        **charge.outcome,
        "network_status": "declined_by_network",
        "seller_message": f"The bank returned the failure code `{code}`.",
        "type": "issuer_declined",
    }
    intent.status = "requires_payment_method"
    intent.last_payment_error = {
        "type": "card_error",
        "code": code,
        "charge": charge.id,
        "doc_url": f"{DOCS}/{code.replace('_', '-')}",
        "message": message,
        "payment_method": render_payment_method(method),
        "payment_method_type": "sepa_debit",
    }
    emit(sandbox, "charge.failed", charge, AUTOMATIC)
    emit(sandbox, "payment_intent.payment_failed", intent, AUTOMATIC)
    return False


def card_error_body(decline: Decline, charge_id: str, method: PaymentMethod) -> dict[str, Any]:
    """The `card_error` Stripe puts in a 402 answer and in `last_payment_error`."""
    body: dict[str, Any] = {
        "type": "card_error",
        "code": decline.code,
        "decline_code": decline.decline_code,
        "charge": charge_id,
        "doc_url": f"{DOCS}/{decline.code.replace('_', '-')}",
        "message": decline.message,
        "payment_method": render_payment_method(method),
    }
    if decline.param:
        body["param"] = decline.param
    return body


def _new_charge(
    sandbox: Sandbox,
    intent: PaymentIntent,
    method: PaymentMethod,
    status: str,
    outcome: dict[str, Any],
) -> Charge:
    charge = Charge(
        id=new_id("ch"),
        created=int(time.time()),
        amount=intent.amount,
        currency=intent.currency,
        payment_intent_id=intent.id,
        payment_method_id=method.id,
        status=status,
        outcome=outcome,
        metadata=dict(intent.metadata),
        description=intent.description,
        receipt_email=intent.receipt_email,
    )
    sandbox.store.charges[charge.id] = charge
    intent.latest_charge_id = charge.id
    return charge


def _charge_succeeded(sandbox: Sandbox, charge: Charge) -> None:
    """A receipt now; the balance transaction a few seconds later, as Stripe settles it."""
    charge.receipt_url = f"{sandbox.settings.public_url}/receipts/payment/{charge.id}"
    charge_id = charge.id
    sandbox.timers.call_later(
        sandbox.settings.scaled(sandbox.settings.balance_transaction_delay),
        f"balance transaction of {charge_id}",
        lambda: record_balance_transaction(sandbox, charge_id),
    )


def record_balance_transaction(sandbox: Sandbox, charge_id: str) -> None:
    """The charge's money reaches the balance, less Stripe's fee: `charge.updated` says so."""
    charge = sandbox.store.charges[charge_id]
    if charge.balance_transaction_id is not None:
        return
    charge.balance_transaction_id = balance.record_charge(sandbox, charge).id
    emit(
        sandbox,
        "charge.updated",
        charge,
        AUTOMATIC,
        previous_attributes={"balance_transaction": None},
    )


def _succeed(sandbox: Sandbox, intent: PaymentIntent, charge_id: str) -> None:
    intent.status = "succeeded"
    intent.amount_received = intent.amount
    intent.latest_charge_id = charge_id
    intent.last_payment_error = None
    intent.next_action = None


def _approved_outcome(risk_level: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network",
        "reason": None,
        "risk_level": risk_level,
        "seller_message": "Payment complete.",
        "type": "authorized",
    }
    if risk_level == "normal":
        outcome["risk_score"] = 32
    return outcome


def _declined_outcome(decline: Decline) -> dict[str, Any]:
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network",
        "reason": decline.decline_code,
        "risk_level": "normal",
        "risk_score": 41,
        "seller_message": decline.seller_message,
        "type": decline.outcome_type,
    }
