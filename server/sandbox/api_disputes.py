"""/v1/disputes: retrieve, list, update (evidence) and close."""

from __future__ import annotations

from aiohttp import web

from . import disputes
from .api_base import expand_paths, stripe_json
from .keys import origin_key, params_key, sandbox_key
from .lists import in_range, list_object, newest_first, page
from .params import (
    EXPAND,
    LIST_FIELDS,
    Bool,
    Metadata,
    Obj,
    Spec,
    Str,
    TimeRange,
    Unsupported,
    validate,
)
from .records import DISPUTE_EVIDENCE_FIELDS
from .render import expand, render

# File evidence names an uploaded file (file_...); the sandbox has no Files API.
# fmt: off
_FILE_FIELDS = frozenset((
    "cancellation_policy", "customer_communication", "customer_signature",
    "duplicate_charge_documentation", "receipt", "refund_policy", "service_documentation",
    "shipping_documentation", "uncategorized_file",
))
# fmt: on
_EVIDENCE: dict[str, Spec] = {
    name: Unsupported() if name in _FILE_FIELDS else Str(20000, allow_empty=True)
    for name in DISPUTE_EVIDENCE_FIELDS
}
UPDATE = Obj(
    {
        "evidence": Obj({**_EVIDENCE, "enhanced_evidence": Unsupported()}),
        "metadata": Metadata(),
        "submit": Bool(),
        "expand": EXPAND,
    }
)
LIST = Obj({**LIST_FIELDS, "created": TimeRange(), "charge": Str(), "payment_intent": Str()})


async def retrieve_dispute(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(Obj({"expand": EXPAND}), request[params_key])
    dispute = sandbox.store.dispute(request.match_info["dispute_id"], "dispute")
    return stripe_json(expand(sandbox.store, render(sandbox.store, dispute), expand_paths(params)))


async def list_disputes(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(LIST, request[params_key])
    found = [
        dispute
        for dispute in newest_first(list(sandbox.store.disputes.values()))
        if params.get("charge") in (None, dispute.charge_id)
        and params.get("payment_intent") in (None, dispute.payment_intent_id)
        and in_range(dispute.created, params.get("created"))
    ]
    chosen, has_more = page(found, lambda d: d.id, params, "dispute")
    body = list_object("/v1/disputes", [render(sandbox.store, d) for d in chosen], has_more)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


async def update_dispute(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(UPDATE, request[params_key])
    dispute = sandbox.store.dispute(request.match_info["dispute_id"], "dispute")
    disputes.update_dispute(
        sandbox,
        dispute,
        params.get("evidence", {}),
        params.get("metadata"),
        params.get("submit", True),  # Stripe submits evidence unless told `submit=false`
        request[origin_key],
    )
    return stripe_json(expand(sandbox.store, render(sandbox.store, dispute), expand_paths(params)))


async def close_dispute(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(Obj({"expand": EXPAND}), request[params_key])
    dispute = sandbox.store.dispute(request.match_info["dispute_id"], "dispute")
    disputes.close_dispute(sandbox, dispute, request[origin_key])
    return stripe_json(expand(sandbox.store, render(sandbox.store, dispute), expand_paths(params)))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/disputes", list_disputes, name="api.disputes.list")
    router.add_get("/v1/disputes/{dispute_id}", retrieve_dispute, name="api.disputes.retrieve")
    router.add_post("/v1/disputes/{dispute_id}", update_dispute, name="api.disputes.update")
    router.add_post("/v1/disputes/{dispute_id}/close", close_dispute, name="api.disputes.close")
