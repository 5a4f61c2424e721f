"""The customer's pages: the payment page, the checkout form post, status and cancel pages."""

from __future__ import annotations

import secrets

from aiohttp import web

from ..catalog import Product
from ..keys import catalog_key, checkout_key, config_key, db_key
from ..money import format_major
from ..orders import InvalidOrder, order_from_form
from ..payments import Payment, get_payment
from ..render import render
from ..status_view import payment_snapshot
from ..stripe_gateway import StripeUnavailable

DEFAULT_ACCENT = "#1f5f8b"  # passes WCAG AA on white for text and buttons


async def index(request: web.Request) -> web.Response:
    catalog = request.app[catalog_key]
    chosen = request.query.get("product", "")
    values = {"product": chosen if catalog.get(chosen) else catalog.products[0].id}
    return _payment_page(request, values, errors={}, status=200)


async def checkout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        order = order_from_form(request.app[catalog_key], values)
    except InvalidOrder as exc:
        return _payment_page(request, values, errors={exc.field: exc.message}, status=400)
    # The same form submitted twice with the same content reuses one payment and one Checkout Session.
    form_token = values.get("form_token") or secrets.token_urlsafe(16)
    try:
        result = await request.app[checkout_key].start(
            order, f"form:{form_token}:{order.fingerprint()}"
        )
    except StripeUnavailable as exc:
        return _payment_page(request, values, errors={"form": exc.customer_message}, status=502)
    if result.redirect_to_checkout and result.payment.checkout_url:
        raise web.HTTPSeeOther(result.payment.checkout_url)
    raise web.HTTPSeeOther(
        str(request.app.router["payment_status"].url_for(payment_id=result.payment.id))
    )


async def payment_status(request: web.Request) -> web.Response:
    payment = await _payment_or_404(request)
    shop_url = request.app[config_key].public_url + "/"
    snapshot = payment_snapshot(payment, request.app[catalog_key], shop_url=shop_url)
    # Back from checkout before Stripe's webhook: say we are confirming, not "waiting for payment".
    returning = "session_id" in request.query
    response = render(request, "status.html", {"payment": snapshot, "returning": returning})
    response.headers["Cache-Control"] = "no-store"
    return response


async def payment_cancelled(request: web.Request) -> web.Response:
    payment = await _payment_or_404(request)
    return render(request, "cancelled.html", {"payment": payment})


def _payment_page(
    request: web.Request, values: dict[str, str], errors: dict[str, str], status: int
) -> web.Response:
    catalog = request.app[catalog_key]
    selected = catalog.get(values.get("product", "")) or catalog.products[0]
    errors = _place_errors(errors, selected)
    context = {
        "products": catalog.products,
        "selected": selected.id,
        "values": values,
        "errors": errors,
        "form_token": values.get("form_token") or secrets.token_urlsafe(16),
        "amount_value": _amount_value,
    }
    return render(request, "index.html", context, status=status)


def _place_errors(errors: dict[str, str], product: Product) -> dict[str, str]:
    """Errors about a field the page has no box for (a sent price) go to the top of the form."""
    shown = {"form", "product", "name", "email"}
    if product.custom_amount:
        shown.add("amount")
    elif product.max_quantity > product.min_quantity:
        shown.add("quantity")
    return {(field if field in shown else "form"): message for field, message in errors.items()}


def _amount_value(product: Product, values: dict[str, str]) -> str:
    """What the amount box shows: what the customer typed, else the first suggested amount."""
    typed = values.get(f"amount-{product.id}")
    if typed is not None:
        return typed
    if product.custom_amount and product.custom_amount.presets:
        return format_major(product.custom_amount.presets[0], product.currency)
    return ""


async def _payment_or_404(request: web.Request) -> Payment:
    payment = await get_payment(request.app[db_key], request.match_info["payment_id"])
    if payment is None:
        raise web.HTTPNotFound(
            text="We have no payment at this address. Check the link in your email or receipt."
        )
    return payment


async def theme_css(request: web.Request) -> web.Response:
    """The operator's accent colour as CSS variables (inline styles are barred by our CSP)."""
    accent = request.app[catalog_key].shop.accent_color or DEFAULT_ACCENT
    css = f":root {{ --accent: {accent}; }}\n"
    return web.Response(text=css, content_type="text/css", headers={"Cache-Control": "max-age=300"})
