"""/v1/refunds: create (by PaymentIntent or charge), retrieve and list."""

from __future__ import annotations

from aiohttp import web

from . import refunds
from .api_base import expand_paths, stripe_json
from .keys import origin_key, params_key, sandbox_key
from .lists import in_range, list_object, newest_first, page
from .params import (
    EXPAND,
    LIST_FIELDS,
    Enum,
    Int,
    Metadata,
    Obj,
    Str,
    TimeRange,
    unsupported,
    validate,
)
from .render import expand, render

CREATE = Obj(
    {
        "payment_intent": Str(),
        "charge": Str(),
        "amount": Int(minimum=1),
        "reason": Enum(("duplicate", "fraudulent", "requested_by_customer")),
        "metadata": Metadata(),
        "expand": EXPAND,
        **unsupported(
            "currency customer instructions_email origin refund_application_fee reverse_transfer"
        ),
    }
)
LIST = Obj({**LIST_FIELDS, "created": TimeRange(), "charge": Str(), "payment_intent": Str()})


async def create_refund(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(CREATE, request[params_key])
    charge = refunds.charge_to_refund(sandbox, params.get("charge"), params.get("payment_intent"))
    refund = refunds.create_refund(
        sandbox,
        charge,
        params.get("amount"),
        params.get("reason"),
        params.get("metadata", {}),
        request[origin_key],
    )
    return stripe_json(expand(sandbox.store, render(sandbox.store, refund), expand_paths(params)))


async def retrieve_refund(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(Obj({"expand": EXPAND}), request[params_key])
    refund = sandbox.store.refund(request.match_info["refund_id"], "refund")
    return stripe_json(expand(sandbox.store, render(sandbox.store, refund), expand_paths(params)))


async def list_refunds(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LIST, request[params_key])
    found = [
        refund
        for refund in newest_first(list(sandbox.store.refunds.values()))
        if params.get("charge") in (None, refund.charge_id)
        and params.get("payment_intent") in (None, refund.payment_intent_id)
        and in_range(refund.created, params.get("created"))
    ]
    chosen, has_more = page(found, lambda r: r.id, params, "refund")
    body = list_object("/v1/refunds", [render(sandbox.store, r) for r in chosen], has_more)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/refunds", create_refund, name="api.refunds.create")
    router.add_get("/v1/refunds", list_refunds, name="api.refunds.list")
    router.add_get("/v1/refunds/{refund_id}", retrieve_refund, name="api.refunds.retrieve")
