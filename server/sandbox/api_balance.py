"""/v1/balance_transactions/{id}: what a charge or refund did to the balance, fee included."""

from __future__ import annotations

from aiohttp import web

from .api_base import expand_paths, stripe_json
from .balance import render_balance_transaction
from .keys import params_key, sandbox_key
from .params import EXPAND, Obj, validate
from .render import expand


async def retrieve_balance_transaction(request: web.Request) -> web.Response:
    sandbox = request.app[sandbox_key]
    params = validate(Obj({"expand": EXPAND}), request[params_key])
    transaction = sandbox.store.balance_transaction(request.match_info["transaction_id"])
    body = render_balance_transaction(transaction)
    return stripe_json(expand(sandbox.store, body, expand_paths(params)))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(
        "/v1/balance_transactions/{transaction_id}",
        retrieve_balance_transaction,
        name="api.balance_transactions.retrieve",
    )
