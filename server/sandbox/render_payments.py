"""PaymentMethods, PaymentIntents, Charges, Refunds and Disputes as Stripe's JSON."""

from __future__ import annotations

from typing import Any

from .records import Charge, Dispute, PaymentIntent, PaymentMethod, Refund
from .store import Store

_NO_ADDRESS = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def _billing_details(email: str | None, name: str | None) -> dict[str, Any]:
    return {"address": dict(_NO_ADDRESS), "email": email, "name": name, "phone": None}


def render_payment_method(method: PaymentMethod) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": method.id,
        "object": "payment_method",
        "allow_redisplay": method.allow_redisplay,
        "billing_details": _billing_details(method.billing_email, method.billing_name),
        "created": method.created,
        "customer": method.customer_id,
        "livemode": False,
        "metadata": {},
        "type": method.type,
    }
    if method.card is not None:
        card = method.card
        body["card"] = {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        }
    if method.sepa_debit is not None:
        sepa = method.sepa_debit
        body["sepa_debit"] = {
            "bank_code": sepa.bank_code,
            "branch_code": sepa.branch_code,
            "country": sepa.country,
            "fingerprint": sepa.fingerprint,
            "generated_from": {"charge": None, "setup_attempt": None},
            "last4": sepa.last4,
        }
    return body


def render_payment_intent(intent: PaymentIntent) -> dict[str, Any]:
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": intent.amount_received,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": (
            {"allow_redirects": "always", "enabled": True}
            if intent.automatic_payment_methods
            else None
        ),
        "canceled_at": intent.canceled_at,
        "cancellation_reason": intent.cancellation_reason,
        "capture_method": "automatic_async",
        "client_secret": intent.client_secret,
        "confirmation_method": "automatic",
        "created": intent.created,
        "currency": intent.currency,
        "customer": None,
        "description": intent.description,
        "excluded_payment_method_types": None,
        "last_payment_error": intent.last_payment_error,
        "latest_charge": intent.latest_charge_id,
        "livemode": False,
        "metadata": dict(intent.metadata),
        "next_action": intent.next_action,
        "on_behalf_of": None,
        "payment_method": intent.payment_method_id,
        "payment_method_configuration_details": None,
        "payment_method_options": _payment_method_options(intent.payment_method_types),
        "payment_method_types": list(intent.payment_method_types),
        "processing": None,
        "receipt_email": intent.receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": intent.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def _payment_method_options(types: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "card" in types:
        options["card"] = {
            "installments": None,
            "mandate_options": None,
            "network": None,
            "request_three_d_secure": "automatic",
        }
    if "sepa_debit" in types:
        options["sepa_debit"] = {}
    return options


def render_charge(store: Store, charge: Charge) -> dict[str, Any]:
    method = store.payment_methods[charge.payment_method_id]
    return {
        "id": charge.id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": charge.amount if charge.paid else 0,
        "amount_refunded": charge.amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        # Unexpanded, as Stripe sends it: a txn_ id a few seconds after the charge succeeds.
        "balance_transaction": charge.balance_transaction_id,
        "billing_details": _billing_details(method.billing_email, method.billing_name),
        "calculated_statement_descriptor": "PAYDESK SANDBOX",
        "captured": charge.status != "failed",
        "created": charge.created,
        "currency": charge.currency,
        "customer": None,
        "description": charge.description,
        "disputed": charge.disputed,
        "failure_balance_transaction": None,
        "failure_code": charge.failure_code,
        "failure_message": charge.failure_message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(charge.metadata),
        "on_behalf_of": None,
        "outcome": charge.outcome,
        "paid": charge.paid,
        "payment_intent": charge.payment_intent_id,
        "payment_method": charge.payment_method_id,
        "payment_method_details": _payment_method_details(charge, method),
        "radar_options": {},
        "receipt_email": charge.receipt_email,
        "receipt_number": None,
        "receipt_url": charge.receipt_url,
        "refunded": charge.refunded,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": charge.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def _payment_method_details(charge: Charge, method: PaymentMethod) -> dict[str, Any]:
    if method.card is not None:
        card = method.card
        three_d_secure = None
        if charge.three_d_secure:
            three_d_secure = {
                "authentication_flow": "challenge",
                "electronic_commerce_indicator": "05",
                "exemption_indicator": None,
                "result": "authenticated",
                "result_reason": None,
                "transaction_id": None,
                "version": "2.2.0",
            }
        return {
            "card": {
                "amount_authorized": charge.amount if charge.status != "failed" else None,
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "pass",
                },
                "country": card.country,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card.fingerprint,
                "funding": card.funding,
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card.last4,
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card.brand,
                "network_token": {"used": False},
                "overcapture": {
                    "maximum_amount_capturable": charge.amount,
                    "status": "unavailable",
                },
                "three_d_secure": three_d_secure,
                "wallet": None,
            },
            "type": "card",
        }
    assert method.sepa_debit is not None
    sepa = method.sepa_debit
    return {
        "sepa_debit": {
            "bank_code": sepa.bank_code,
            "branch_code": sepa.branch_code,
            "country": sepa.country,
            "fingerprint": sepa.fingerprint,
            "last4": sepa.last4,
            "mandate": None,
        },
        "type": "sepa_debit",
    }


def render_refund(refund: Refund) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "balance_transaction": refund.balance_transaction_id,
        "charge": refund.charge_id,
        "created": refund.created,
        "currency": refund.currency,
        "destination_details": _destination_details(refund),
        "metadata": dict(refund.metadata),
        "payment_intent": refund.payment_intent_id,
        "pending_reason": "processing" if refund.status == "pending" else None,
        "reason": refund.reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": refund.status,
        "transfer_reversal": None,
    }
    if refund.status == "failed":
        # Stripe sends these two only on a failed refund.
        body["failure_balance_transaction"] = refund.failure_balance_transaction_id
        body["failure_reason"] = refund.failure_reason
    return body


def _destination_details(refund: Refund) -> dict[str, Any] | None:
    if refund.payment_method_type != "card":
        return None  # Stripe's destination_details has no SEPA Debit variant
    # The sandbox has no acquirer reference number to give; a failed refund will never have one.
    reference_status = "unavailable" if refund.status == "failed" else "pending"
    return {
        "card": {
            "reference_status": reference_status,
            "reference_type": "acquirer_reference_number",
            "type": "refund",
        },
        "type": "card",
    }


def render_dispute(store: Store, dispute: Dispute) -> dict[str, Any]:
    charge = store.charges[dispute.charge_id]
    method = store.payment_methods[charge.payment_method_id]
    brand = method.card.brand if method.card is not None else "visa"
    return {
        "id": dispute.id,
        "object": "dispute",
        "amount": dispute.amount,
        "balance_transactions": [],
        "charge": dispute.charge_id,
        "created": dispute.created,
        "currency": dispute.currency,
        # No network's enhanced evidence programme applies to a sandbox dispute.
        "enhanced_eligibility_types": [],
        "evidence": {**dispute.evidence, "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": dispute.due_by,
            "enhanced_eligibility": {},
            "has_evidence": any(value is not None for value in dispute.evidence.values()),
            "past_due": False,
            "submission_count": dispute.submission_count,
            "submission_method": "manual" if dispute.submission_count else "not_submitted",
        },
        "is_charge_refundable": dispute.is_open and not charge.refunded,
        "livemode": False,
        "metadata": dict(dispute.metadata),
        "payment_intent": dispute.payment_intent_id,
        "payment_method_details": {
            "card": {
                "brand": brand,
                "case_type": "chargeback",
                "network": brand,
                "network_reason_code": "10.4",
            },
            "type": "card",
        },
        "reason": dispute.reason,
        "status": dispute.status,
    }
