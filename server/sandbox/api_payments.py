"""/v1/payment_intents and /v1/charges: create-and-confirm with test PaymentMethods, read, list."""

from __future__ import annotations

import time
from datetime import date

from aiohttp import web

from . import payments
from .api_base import expand_paths, sandbox_unsupported, stripe_json
from .errors import StripeError, invalid_request, resource_missing
from .instruments import PAYMENT_METHOD_TOKENS
from .keys import origin_key, params_key, sandbox_key
from .lists import in_range, list_object, newest_first, page
from .money import minimum_charge, stripe_amount
from .params import (
    EXPAND,
    LIST_FIELDS,
    Arr,
    Bool,
    Currency,
    Enum,
    Int,
    Metadata,
    Obj,
    Str,
    TimeRange,
    Unsupported,
    set_values,
    unsupported,
    validate,
)
from .payments import CardResult
from .records import PaymentMethod
from .render import expand, render
from .render_payments import render_payment_intent, render_payment_method
from .state import Sandbox

CREATE_INTENT = Obj(
    {
        "amount": Int(),
        "currency": Currency(),
        "confirm": Bool(),
        "payment_method": Str(),
        "payment_method_types": Arr(Enum(("card",))),
        "automatic_payment_methods": Obj(
            {"enabled": Bool(), "allow_redirects": Enum(("always", "never"))},
            required=frozenset({"enabled"}),
        ),
        "metadata": Metadata(),
        "description": Str(1000),
        "receipt_email": Str(800),
        "return_url": Str(5000),
        "error_on_requires_action": Bool(),
        "expand": EXPAND,
        **unsupported(
            "application_fee_amount capture_method confirmation_method confirmation_token "
            "customer mandate mandate_data off_session on_behalf_of payment_method_configuration "
            "payment_method_data payment_method_options radar_options setup_future_usage shipping "
            "statement_descriptor statement_descriptor_suffix transfer_data transfer_group "
            "use_stripe_sdk"
        ),
    },
    required=frozenset({"amount", "currency"}),
)
RETRIEVE = Obj({"expand": EXPAND, "client_secret": Str()})
LIST_INTENTS = Obj({**LIST_FIELDS, "created": TimeRange(), "customer": Unsupported()})
LIST_CHARGES = Obj(
    {
        **LIST_FIELDS,
        "created": TimeRange(),
        "payment_intent": Str(),
        "customer": Unsupported(),
        "transfer_group": Unsupported(),
    }
)


def _payment_method(sandbox: Sandbox, name: str) -> PaymentMethod:
    """A test token (`pm_card_visa`) makes a fresh PaymentMethod each time, as at Stripe."""
    number = PAYMENT_METHOD_TOKENS.get(name)
    if number is not None:
        today = date.today()
        return payments.card_payment_method(sandbox, number, today.month, today.year + 3)
    if name in sandbox.store.payment_methods:
        return sandbox.store.payment_methods[name]
    raise resource_missing("PaymentMethod", name, param="payment_method")


async def create_intent(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(CREATE_INTENT, request[params_key])
    amount, currency = params["amount"], params["currency"]
    if amount < minimum_charge(currency):
        raise invalid_request(
            f"Amount must be at least {stripe_amount(minimum_charge(currency), currency)}",
            param="amount",
            code="amount_too_small",
        )
    automatic = params.get("automatic_payment_methods", {}).get("enabled", False)
    if automatic and "payment_method_types" in params:
        raise invalid_request(
            "You may only specify one of these parameters: automatic_payment_methods, "
            "payment_method_types.",
            param="automatic_payment_methods",
        )
    confirm = params.get("confirm", False)
    if confirm and "payment_method" not in params:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. To "
            "confirm the PaymentIntent, provide a payment_method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    method = (
        _payment_method(sandbox, params["payment_method"]) if "payment_method" in params else None
    )
    origin = request[origin_key]
    intent = payments.create_intent(
        sandbox,
        amount=amount,
        currency=currency,
        payment_method_types=params.get("payment_method_types", ["card"]),
        origin=origin,
        metadata=set_values(params.get("metadata", {})),
        description=params.get("description"),
        receipt_email=params.get("receipt_email"),
        automatic_payment_methods=automatic,
    )
    if method is not None and not confirm:
        intent.payment_method_id = method.id
        intent.status = "requires_confirmation"
    if method is not None and confirm:
        outcome = payments.confirm_card(sandbox, intent, method, origin)
        if outcome.result is CardResult.REQUIRES_ACTION:
            raise sandbox_unsupported("3-D Secure through the API.", param="payment_method")
        if outcome.decline is not None:
            decline = outcome.decline
            raise StripeError(
                402,
                "card_error",
                decline.message,
                code=decline.code,
                param=decline.param,
                extra={
                    "decline_code": decline.decline_code,
                    "charge": outcome.charge_id,
                    "payment_intent": render_payment_intent(intent),
                    "payment_method": render_payment_method(method),
                    "request_log_url": f"https://dashboard.stripe.com/test/logs/{origin.request_id}"
                    f"?t={int(time.time())}",
                },
            )
    body = render(sandbox.store, intent)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


async def retrieve_intent(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(RETRIEVE, request[params_key])
    intent = sandbox.store.payment_intent(request.match_info["intent_id"], "intent")
    return stripe_json(expand(sandbox.store, render(sandbox.store, intent), expand_paths(params)))


async def list_intents(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LIST_INTENTS, request[params_key])
    intents = [
        intent
        for intent in newest_first(list(sandbox.store.payment_intents.values()))
        if in_range(intent.created, params.get("created"))
    ]
    chosen, has_more = page(intents, lambda i: i.id, params, "payment_intent")
    body = list_object("/v1/payment_intents", [render(sandbox.store, i) for i in chosen], has_more)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


async def retrieve_charge(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(Obj({"expand": EXPAND}), request[params_key])
    charge = sandbox.store.charge(request.match_info["charge_id"], "charge")
    return stripe_json(expand(sandbox.store, render(sandbox.store, charge), expand_paths(params)))


async def list_charges(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LIST_CHARGES, request[params_key])
    charges = [
        charge
        for charge in newest_first(list(sandbox.store.charges.values()))
        if params.get("payment_intent") in (None, charge.payment_intent_id)
        and in_range(charge.created, params.get("created"))
    ]
    chosen, has_more = page(charges, lambda c: c.id, params, "charge")
    body = list_object("/v1/charges", [render(sandbox.store, c) for c in chosen], has_more)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/payment_intents", create_intent, name="api.payment_intents.create")
    router.add_get("/v1/payment_intents", list_intents, name="api.payment_intents.list")
    router.add_get(
        "/v1/payment_intents/{intent_id}", retrieve_intent, name="api.payment_intents.retrieve"
    )
    router.add_get("/v1/charges", list_charges, name="api.charges.list")
    router.add_get("/v1/charges/{charge_id}", retrieve_charge, name="api.charges.retrieve")
