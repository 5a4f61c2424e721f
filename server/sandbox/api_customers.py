"""/v1/customers: create, retrieve and list, and the cards each saved, so Checkout can offer them."""

from __future__ import annotations

from aiohttp import web

from . import customers
from .api_base import stripe_json
from .keys import origin_key, params_key, sandbox_key
from .lists import in_range, list_object, newest_first, page
from .params import (
    EXPAND,
    LIST_FIELDS,
    Enum,
    Metadata,
    Obj,
    Str,
    TimeRange,
    set_values,
    unsupported,
    validate,
)
from .render_customers import render_customer
from .render_payments import render_payment_method

CREATE = Obj(
    {
        "email": Str(512),
        "name": Str(256),
        "phone": Str(20),
        "description": Str(350),
        "metadata": Metadata(),
        "expand": EXPAND,
        **unsupported(
            "address balance business_name cash_balance individual_name invoice_prefix "
            "invoice_settings next_invoice_sequence payment_method preferred_locales shipping "
            "source tax tax_exempt tax_id_data test_clock"
        ),
    }
)
LIST = Obj({**LIST_FIELDS, "created": TimeRange(), "email": Str(512)})
PAYMENT_METHODS = Obj(
    {
        **LIST_FIELDS,
        "type": Enum(("card", "sepa_debit")),
        "allow_redisplay": Enum(("always", "limited", "unspecified")),
    }
)


async def create_customer(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(CREATE, request[params_key])
    customer = customers.create_customer(
        sandbox,
        params.get("email"),
        params.get("name"),
        request[origin_key],
        phone=params.get("phone"),
        description=params.get("description"),
        metadata=set_values(params.get("metadata", {})),
    )
    return stripe_json(render_customer(customer))


async def retrieve_customer(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    validate(Obj({"expand": EXPAND}), request[params_key])
    customer = sandbox.store.customer(request.match_info["customer_id"], "customer")
    return stripe_json(render_customer(customer))


async def list_customers(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LIST, request[params_key])
    found = [
        customer
        for customer in newest_first(list(sandbox.store.customers.values()))
        if params.get("email") in (None, customer.email)
        and in_range(customer.created, params.get("created"))
    ]
    chosen, has_more = page(found, lambda c: c.id, params, "customer")
    body = list_object("/v1/customers", [render_customer(c) for c in chosen], has_more)
    return stripe_json(body)


async def list_payment_methods(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(PAYMENT_METHODS, request[params_key])
    customer = sandbox.store.customer(request.match_info["customer_id"], "customer")
    found = [
        method
        for method in newest_first(list(sandbox.store.payment_methods.values()))
        if method.customer_id == customer.id
        and params.get("type") in (None, method.type)
        and params.get("allow_redisplay") in (None, method.allow_redisplay)
    ]
    chosen, has_more = page(found, lambda m: m.id, params, "payment_method")
    url = f"/v1/customers/{customer.id}/payment_methods"
    body = list_object(url, [render_payment_method(m) for m in chosen], has_more)
    return stripe_json(body)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/customers", create_customer, name="api.customers.create")
    router.add_get("/v1/customers", list_customers, name="api.customers.list")
    router.add_get("/v1/customers/{customer_id}", retrieve_customer, name="api.customers.retrieve")
    router.add_get(
        "/v1/customers/{customer_id}/payment_methods",
        list_payment_methods,
        name="api.customers.payment_methods",
    )
