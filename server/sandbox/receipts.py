"""The receipt page a charge's `receipt_url` points to, kept up to date with its refunds."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from .hosted import render_page
from .keys import sandbox_key


async def show_receipt(request: web.Request) -> web.Response:
    store = request.app[sandbox_key].store
    charge = store.charges.get(request.match_info["charge_id"])
    if charge is None or charge.receipt_url is None:
        return render_page(request, "closed.html", status=404, reason="missing")
    method = store.payment_methods[charge.payment_method_id]
    if method.card is not None:
        paid_with = f"{method.card.brand.title()} ending in {method.card.last4}"
    else:
        paid_with = (
            f"SEPA Direct Debit ending in {method.sepa_debit.last4 if method.sepa_debit else ''}"
        )
    return render_page(
        request,
        "receipt.html",
        charge=charge,
        paid_with=paid_with,
        paid_on=datetime.fromtimestamp(charge.created, UTC).strftime("%d %B %Y"),
        refunds=store.refunds_of(charge.id),
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/receipts/payment/{charge_id}", show_receipt, name="page.receipt")
