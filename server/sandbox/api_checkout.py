"""/v1/checkout/sessions: create, retrieve, list, expire and line items."""

from __future__ import annotations

from aiohttp import web

from . import checkout
from .api_base import expand_paths, public_url_for, sandbox_unsupported, stripe_json
from .errors import invalid_request
from .keys import origin_key, params_key, sandbox_key
from .lists import in_range, list_object, newest_first, page
from .params import (
    EXPAND,
    LIST_FIELDS,
    Arr,
    Currency,
    Enum,
    Int,
    Metadata,
    Obj,
    Str,
    TimeRange,
    Unsupported,
    unsupported,
    validate,
)
from .render import expand, line_items_list, render
from .render_checkout import render_line_item

# fmt: off
LOCALES = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil",
    "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl",
    "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)
# fmt: on

PRODUCT_DATA = Obj(
    {
        "name": Str(),
        "description": Str(40000),
        "images": Arr(Str(2048), max_items=8),
        "metadata": Metadata(),
        "tax_code": Unsupported(),
    },
    required=frozenset({"name"}),
)
PRICE_DATA = Obj(
    {
        "currency": Currency(),
        "unit_amount": Int(minimum=0),
        "product_data": PRODUCT_DATA,
        "product": Unsupported(),
        "unit_amount_decimal": Unsupported(),
        "recurring": Unsupported(),
        "tax_behavior": Unsupported(),
    },
    # Stripe also takes `product` or `unit_amount_decimal` instead; the sandbox does not.
    required=frozenset({"currency", "unit_amount", "product_data"}),
)
LINE_ITEM = Obj(
    {
        "price": Str(),
        "price_data": PRICE_DATA,
        "quantity": Int(minimum=1),
        "adjustable_quantity": Unsupported(),
        "dynamic_tax_rates": Unsupported(),
        "tax_rates": Unsupported(),
    }
)
PAYMENT_INTENT_DATA = Obj(
    {
        "metadata": Metadata(),
        "description": Str(1000),
        "receipt_email": Str(800),
        **unsupported(
            "application_fee_amount capture_method on_behalf_of setup_future_usage shipping "
            "statement_descriptor statement_descriptor_suffix transfer_data transfer_group"
        ),
    }
)
REDISPLAY = ("always", "limited", "unspecified")
SAVED_PAYMENT_METHOD_OPTIONS = Obj(
    {
        "payment_method_save": Enum(("disabled", "enabled")),
        "allow_redisplay_filters": Arr(Enum(REDISPLAY), max_items=3),
        "payment_method_remove": Unsupported(),
    }
)
CREATE = Obj(
    {
        "mode": Enum(("payment", "setup", "subscription")),
        "line_items": Arr(LINE_ITEM, max_items=100),
        "customer": Str(),
        "customer_creation": Enum(("always", "if_required")),
        "saved_payment_method_options": SAVED_PAYMENT_METHOD_OPTIONS,
        "customer_email": Str(800),
        "client_reference_id": Str(200),
        "metadata": Metadata(),
        "payment_intent_data": PAYMENT_INTENT_DATA,
        "success_url": Str(5000),
        "cancel_url": Str(5000),
        "expires_at": Int(),
        "locale": Enum(LOCALES),
        "submit_type": Enum(("auto", "book", "donate", "pay")),
        "payment_method_types": Arr(Enum(("card", "sepa_debit"))),
        "billing_address_collection": Enum(("auto", "required")),
        "ui_mode": Enum(("hosted", "embedded", "custom")),
        "expand": EXPAND,
        **unsupported(
            "adaptive_pricing after_expiration allow_promotion_codes automatic_tax "
            "branding_settings consent_collection currency custom_fields custom_text "
            "customer_update discounts invoice_creation name_collection "
            "optional_items origin_context payment_method_collection payment_method_configuration "
            "payment_method_data payment_method_options permissions phone_number_collection "
            "redirect_on_completion return_url setup_intent_data "
            "shipping_address_collection shipping_options subscription_data tax_id_collection "
            "wallet_options"
        ),
    },
    required=frozenset({"mode"}),
)
RETRIEVE = Obj({"expand": EXPAND})
LIST = Obj(
    {
        **LIST_FIELDS,
        "created": TimeRange(),
        "payment_intent": Str(),
        "status": Enum(("complete", "expired", "open")),
        "customer": Unsupported(),
        "customer_details": Unsupported(),
        "payment_link": Unsupported(),
        "subscription": Unsupported(),
    }
)
LINE_ITEMS = Obj(dict(LIST_FIELDS))


async def create_session(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(CREATE, request[params_key])
    if params["mode"] != "payment":
        raise sandbox_unsupported(f"Checkout in {params['mode']} mode.", param="mode")
    if params.get("ui_mode", "hosted") != "hosted":
        raise sandbox_unsupported(f"ui_mode={params['ui_mode']}.", param="ui_mode")
    if "line_items" not in params:
        raise invalid_request(
            "Missing required param: line_items.", param="line_items", code="parameter_missing"
        )

    def page_url(session_id: str) -> str:
        return public_url_for(request, "page.checkout", session_id=session_id)

    session = checkout.create_session(sandbox, params, page_url)
    body = render(sandbox.store, session)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


async def retrieve_session(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(RETRIEVE, request[params_key])
    session = sandbox.store.checkout_session(request.match_info["session_id"], "session")
    return stripe_json(expand(sandbox.store, render(sandbox.store, session), expand_paths(params)))


async def list_sessions(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LIST, request[params_key])
    sessions = [
        session
        for session in newest_first(list(sandbox.store.checkout_sessions.values()))
        if params.get("payment_intent") in (None, session.payment_intent_id)
        and params.get("status") in (None, session.status)
        and in_range(session.created, params.get("created"))
    ]
    chosen, has_more = page(sessions, lambda s: s.id, params, "checkout.session")
    body = list_object(
        "/v1/checkout/sessions", [render(sandbox.store, s) for s in chosen], has_more
    )
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


async def expire_session(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(RETRIEVE, request[params_key])
    session = sandbox.store.checkout_session(request.match_info["session_id"], "session")
    checkout.expire_session(sandbox, session, request[origin_key])
    return stripe_json(expand(sandbox.store, render(sandbox.store, session), expand_paths(params)))


async def session_line_items(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LINE_ITEMS, request[params_key])
    session = sandbox.store.checkout_session(request.match_info["session_id"], "session")
    # Line items keep the order they were given in, not newest first.
    chosen, has_more = page(session.line_items, lambda item: item.id, params, "line_item")
    body = list_object(
        line_items_list(session)["url"], [render_line_item(item) for item in chosen], has_more
    )
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


def add_routes(router: web.UrlDispatcher) -> None:
    base = "/v1/checkout/sessions"
    router.add_post(base, create_session, name="api.checkout.sessions.create")
    router.add_get(base, list_sessions, name="api.checkout.sessions.list")
    router.add_get(base + "/{session_id}", retrieve_session, name="api.checkout.sessions.retrieve")
    router.add_post(
        base + "/{session_id}/expire", expire_session, name="api.checkout.sessions.expire"
    )
    router.add_get(
        base + "/{session_id}/line_items",
        session_line_items,
        name="api.checkout.sessions.line_items",
    )
