"""Checkout Sessions: created through the API, paid on the hosted page, completed or expired."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from . import customers, payments
from .card_form import BankDebitInput, CardInput, FormErrors
from .errors import invalid_request
from .events import emit
from .ids import checkout_session_id, new_id
from .instruments import TEST_IBANS
from .money import minimum_charge, stripe_amount
from .params import set_values
from .payments import CardOutcome, CardResult
from .records import AUTOMATIC, CheckoutSession, LineItem, Origin, PaymentIntent, PaymentMethod
from .state import Sandbox

# Stripe's ceiling for one payment, in the smallest unit (e.g. $999,999.99).
MAXIMUM_AMOUNT = 99_999_999
DEFAULT_PAYMENT_METHOD_TYPES = ("card", "sepa_debit")
# What each payment method can be paid in; a type missing here takes any currency. SEPA Direct
# Debit is euro only (docs.stripe.com/payments/sepa-debit/accept-a-payment: "Supported
# currencies: `eur`").
METHOD_CURRENCIES = {"sepa_debit": ("eur",)}


def _payment_method_types(asked: list[str] | None, currency: str) -> list[str]:
    """Without a list, what the account offers in `currency` (as Stripe's dynamic payment
    methods choose); a listed method that cannot take `currency` is Stripe's error."""
    if asked is None:
        return [kind for kind in DEFAULT_PAYMENT_METHOD_TYPES if _takes(kind, currency)]
    for kind in asked:
        if not _takes(kind, currency):
            # Stripe's wording for a Checkout Session, as quoted in
            # github.com/stripe-samples/firebase-subscription-payments/issues/39.
            accepted = ", ".join(f"``{code}``" for code in METHOD_CURRENCIES[kind])
            raise invalid_request(
                f"Invalid currency options ``{currency}``. The payment method `{kind}` only "
                f"supports the following currencies: {accepted}.",
                param="payment_method_types",
            )
    return list(dict.fromkeys(asked))


def _takes(kind: str, currency: str) -> bool:
    return currency in METHOD_CURRENCIES.get(kind, (currency,))


class SessionNotOpen(Exception):
    """The customer acted on a session that is complete or expired."""


def create_session(
    sandbox: Sandbox, params: dict[str, Any], page_url: Callable[[str], str]
) -> CheckoutSession:
    """`params` passed the endpoint's schema; here go the rules that span several parameters."""
    settings = sandbox.settings
    now = int(time.time())
    line_items = _line_items(params["line_items"], now)
    currency = line_items[0].currency
    total = sum(item.amount_total for item in line_items)
    if total < minimum_charge(currency):
        raise invalid_request(
            "The Checkout Session's total amount due must add up to at least "
            f"{stripe_amount(minimum_charge(currency), currency)}"
        )
    if total > MAXIMUM_AMOUNT:
        raise invalid_request(
            "The Checkout Session's total amount due must be no more than "
            f"{stripe_amount(MAXIMUM_AMOUNT, currency)}"
        )
    expires_at = params.get("expires_at", now + int(settings.max_session_lifetime))
    if expires_at - now < settings.min_session_lifetime:
        raise invalid_request(
            "The `expires_at` timestamp must be at least "
            f"{_duration(settings.min_session_lifetime)} from Checkout Session creation.",
            param="expires_at",
        )
    if expires_at - now > settings.max_session_lifetime:
        raise invalid_request(
            "The `expires_at` timestamp must be less than "
            f"{_duration(settings.max_session_lifetime)} from Checkout Session creation.",
            param="expires_at",
        )
    for name in ("success_url", "cancel_url"):
        if name in params and not _is_url(params[name]):
            raise invalid_request("Not a valid URL", param=name)
    if "customer_email" in params and not _is_email(params["customer_email"]):
        raise invalid_request(
            f"Invalid email address: {params['customer_email']}", param="customer_email"
        )
    payment_method_types = _payment_method_types(params.get("payment_method_types"), currency)
    if "customer" in params and "customer_email" in params:
        raise invalid_request(
            "You may only specify one of these parameters: customer, customer_email."
        )
    customer = (
        sandbox.store.customer(params["customer"], "customer") if "customer" in params else None
    )
    intent_data = params.get("payment_intent_data", {})
    saved = params.get("saved_payment_method_options", {})
    session_id = checkout_session_id()
    session = CheckoutSession(
        id=session_id,
        created=now,
        expires_at=expires_at,
        url=page_url(session_id),
        currency=currency,
        line_items=line_items,
        success_url=params.get("success_url"),
        cancel_url=params.get("cancel_url"),
        customer_email=params.get("customer_email"),
        customer_id=customer.id if customer is not None else None,
        client_reference_id=params.get("client_reference_id"),
        metadata=set_values(params.get("metadata", {})),
        payment_intent_metadata=set_values(intent_data.get("metadata", {})),
        payment_intent_description=intent_data.get("description"),
        payment_intent_receipt_email=intent_data.get("receipt_email"),
        locale=params.get("locale"),
        submit_type=params.get("submit_type"),
        billing_address_collection=params.get("billing_address_collection"),
        payment_method_types=payment_method_types,
        customer_creation=params.get("customer_creation"),
        payment_method_save=saved.get("payment_method_save"),
        allow_redisplay_filters=saved.get("allow_redisplay_filters"),
    )
    sandbox.store.checkout_sessions[session.id] = session
    sandbox.timers.call_at(
        expires_at, f"expire {session.id}", lambda: expire_if_open(sandbox, session.id)
    )
    return session


def expire_session(sandbox: Sandbox, session: CheckoutSession, origin: Origin) -> None:
    if session.status != "open":
        raise invalid_request(
            'Only Checkout Sessions with a status in ["open"] can be expired. '
            f"This Checkout Session has a status of `{session.status}`.",
            param="session",
        )
    session.status = "expired"
    intent = _intent_of(sandbox, session)
    if intent is not None:
        # Checkout cancels the PaymentIntent it made, so it can no longer be paid.
        intent.status = "canceled"
        intent.canceled_at = int(time.time())
        intent.cancellation_reason = "abandoned"
        intent.next_action = None
        emit(sandbox, "payment_intent.canceled", intent, origin)
    emit(sandbox, "checkout.session.expired", session, origin)


def expire_if_open(sandbox: Sandbox, session_id: str) -> None:
    session = sandbox.store.checkout_sessions[session_id]
    if session.status == "open":
        expire_session(sandbox, session, AUTOMATIC)


def pay_by_card(
    sandbox: Sandbox,
    session: CheckoutSession,
    card: CardInput,
    email: str | None,
    name: str | None,
    authenticate_url: str,
    save: bool = False,
) -> CardOutcome:
    """`save`: the customer ticked "save my card" (only where the page offered it)."""
    _require_open(session)
    session.save_requested = save and offers_to_save(session)
    known_email, known_name = prefill(sandbox, session)
    # A browser sends the pre-filled name back; a bare form post gets it too.
    email, name = email or known_email, name or known_name
    method = payments.card_payment_method(
        sandbox, card.number, card.exp_month, card.exp_year, email, name
    )
    intent = _intent_for(sandbox, session)
    outcome = payments.confirm_card(
        sandbox, intent, method, AUTOMATIC, next_action_url=authenticate_url
    )
    if outcome.result is CardResult.SUCCEEDED:
        _complete(sandbox, session, "paid", email, name)
    return outcome


def pay_by_saved_card(
    sandbox: Sandbox, session: CheckoutSession, method_id: str, authenticate_url: str
) -> CardOutcome:
    """Pay with a card the session's Customer saved, as the page offered it: nothing typed."""
    _require_open(session)
    method = next((m for m in saved_cards(sandbox, session) if m.id == method_id), None)
    if method is None:
        raise FormErrors({"saved_payment_method": "This saved card cannot pay this checkout."})
    session.save_requested = False  # already saved
    email, name = prefill(sandbox, session)
    intent = _intent_for(sandbox, session)
    outcome = payments.confirm_card(
        sandbox, intent, method, AUTOMATIC, next_action_url=authenticate_url
    )
    if outcome.result is CardResult.SUCCEEDED:
        _complete(
            sandbox, session, "paid", email or method.billing_email, name or method.billing_name
        )
    return outcome


def offers_to_save(session: CheckoutSession) -> bool:
    """Whether the page shows "Save my card": saving is enabled and there is (or will be) a
    Customer to save it to."""
    has_customer = session.customer_id is not None or session.customer_creation == "always"
    return session.payment_method_save == "enabled" and has_customer


def saved_cards(sandbox: Sandbox, session: CheckoutSession) -> list[PaymentMethod]:
    """The cards the session's Customer saved that the page may offer, newest first: those whose
    `allow_redisplay` is among the session's filters (Stripe's default: "always" only)."""
    if session.customer_id is None:
        return []
    shown = session.allow_redisplay_filters or ["always"]
    return [
        method
        for method in reversed(sandbox.store.payment_methods.values())
        if method.customer_id == session.customer_id
        and method.type == "card"
        and method.allow_redisplay in shown
    ]


def authenticate(sandbox: Sandbox, session: CheckoutSession, approve: bool) -> CardOutcome | None:
    """The customer approved or failed 3-D Secure; None when nothing was waiting for it."""
    _require_open(session)
    intent = _intent_of(sandbox, session)
    if intent is None or intent.status != "requires_action":
        return None
    method = sandbox.store.payment_methods[intent.payment_method_id or ""]
    if not approve:
        payments.fail_authentication(sandbox, intent, AUTOMATIC)
        return CardOutcome(CardResult.DECLINED)
    outcome = payments.confirm_card(sandbox, intent, method, AUTOMATIC, authenticated=True)
    if outcome.result is CardResult.SUCCEEDED:
        _complete(sandbox, session, "paid", method.billing_email, method.billing_name)
    return outcome


def prefill(sandbox: Sandbox, session: CheckoutSession) -> tuple[str | None, str | None]:
    """The email and name the page starts with, as Stripe Checkout fills them in: from
    `customer_email`, or from the `customer` the session was made for."""
    if session.customer_id is None:
        return session.customer_email, None
    customer = sandbox.store.customers[session.customer_id]
    return customer.email, customer.name


def last_failure(sandbox: Sandbox, session: CheckoutSession) -> dict[str, Any] | None:
    """The error of the session's last payment attempt, while the customer may try again."""
    intent = _intent_of(sandbox, session)
    if session.status != "open" or intent is None or intent.status != "requires_payment_method":
        return None
    return intent.last_payment_error


def awaiting_authentication(sandbox: Sandbox, session: CheckoutSession) -> bool:
    intent = _intent_of(sandbox, session)
    return session.status == "open" and intent is not None and intent.status == "requires_action"


def pay_by_bank_debit(
    sandbox: Sandbox, session: CheckoutSession, account: BankDebitInput, email: str | None
) -> None:
    """Submit a SEPA debit: the session completes unpaid now, and the bank answers later."""
    _require_open(session)
    if "sepa_debit" not in session.payment_method_types:
        raise FormErrors({"iban": "This checkout does not accept bank debits."})
    if account.iban not in TEST_IBANS:
        raise FormErrors({"iban": "In test mode, use a test IBAN such as DE89370400440532013000."})
    session.save_requested = False  # the sandbox saves cards only
    email = email or prefill(sandbox, session)[0]
    method = payments.sepa_payment_method(sandbox, account.iban, account.account_holder, email)
    intent = _intent_for(sandbox, session)
    payments.start_bank_debit(sandbox, intent, method)
    _complete(sandbox, session, "unpaid", email, account.account_holder)
    intent_id = intent.id
    sandbox.timers.call_later(
        sandbox.settings.async_payment_delay,
        f"settle bank debit {intent_id}",
        lambda: settle_bank_debit(sandbox, session.id, intent_id),
    )


def settle_bank_debit(sandbox: Sandbox, session_id: str, intent_id: str) -> None:
    session = sandbox.store.checkout_sessions[session_id]
    intent = sandbox.store.payment_intents[intent_id]
    if intent.status != "processing":
        return
    if payments.settle_bank_debit(sandbox, intent):
        session.payment_status = "paid"
        emit(sandbox, "checkout.session.async_payment_succeeded", session, AUTOMATIC)
    else:
        emit(sandbox, "checkout.session.async_payment_failed", session, AUTOMATIC)


def _require_open(session: CheckoutSession) -> None:
    if session.status != "open":
        raise SessionNotOpen(session.status)


def _intent_of(sandbox: Sandbox, session: CheckoutSession) -> PaymentIntent | None:
    if session.payment_intent_id is None:
        return None
    return sandbox.store.payment_intents[session.payment_intent_id]


def _intent_for(sandbox: Sandbox, session: CheckoutSession) -> PaymentIntent:
    """Checkout makes its PaymentIntent at the first payment attempt, then reuses it."""
    intent = _intent_of(sandbox, session)
    if intent is None:
        intent = payments.create_intent(
            sandbox,
            amount=session.amount_total,
            currency=session.currency,
            payment_method_types=list(session.payment_method_types),
            origin=AUTOMATIC,
            metadata=session.payment_intent_metadata,
            description=session.payment_intent_description,
            receipt_email=session.payment_intent_receipt_email,
            checkout_session_id=session.id,
        )
        session.payment_intent_id = intent.id
    return intent


def _complete(
    sandbox: Sandbox,
    session: CheckoutSession,
    payment_status: str,
    email: str | None,
    name: str | None,
) -> None:
    session.status = "complete"
    session.payment_status = payment_status
    session.customer_details_email = email
    session.customer_details_name = name
    if session.customer_id is None and session.customer_creation == "always":
        session.customer_id = customers.create_customer(sandbox, email, name, AUTOMATIC).id
    if session.save_requested and session.customer_id is not None:
        intent = _intent_of(sandbox, session)
        method_id = intent.payment_method_id if intent is not None else None
        if method_id is not None:
            customers.attach(sandbox, method_id, session.customer_id, "always")
    emit(sandbox, "checkout.session.completed", session, AUTOMATIC)


def _line_items(items: list[dict[str, Any]], now: int) -> list[LineItem]:
    result: list[LineItem] = []
    for index, item in enumerate(items):
        path = f"line_items[{index}]"
        if "price" in item:
            raise invalid_request(
                f"No such price: '{item['price']}'", param=f"{path}[price]", code="resource_missing"
            )
        if "price_data" not in item:
            raise invalid_request(
                f"Missing required param: {path}[price_data].",
                param=f"{path}[price_data]",
                code="parameter_missing",
            )
        if "quantity" not in item:
            raise invalid_request(
                f"Missing required param: {path}[quantity].",
                param=f"{path}[quantity]",
                code="parameter_missing",
            )
        price = item["price_data"]
        currency = price["currency"]
        if result and currency != result[0].currency:
            raise invalid_request(
                "All line items in a Checkout Session must use the same currency.",
                param=f"{path}[price_data][currency]",
            )
        product = price["product_data"]
        result.append(
            LineItem(
                id=new_id("li"),
                price_id=new_id("price"),
                product_id=new_id("prod", 14),
                created=now,
                name=product["name"],
                product_description=product.get("description"),
                currency=currency,
                unit_amount=price["unit_amount"],
                quantity=item["quantity"],
            )
        )
    return result


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_email(value: str) -> bool:
    local, _, domain = value.partition("@")
    return bool(local) and "." in domain and " " not in value


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"
