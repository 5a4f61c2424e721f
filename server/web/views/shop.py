"""The customer's pages: the payment page, the checkout form post, status and cancel pages."""

from __future__ import annotations

import secrets
from functools import partial

from aiohttp import web

from ...catalog import Product
from ...money import format_major
from ...orders import InvalidOrder, order_from_form
from ...payments import Payment, get_payment
from ...rate_limit import TooManyAttempts
from ...stripe_gateway import StripeUnavailable
from ..client import client_id
from ..keys import (
    catalog_key,
    checkout_key,
    confirmer_key,
    db_key,
    status_pages_key,
)
from ..render import render

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
        return _payment_page(request, values, errors=exc.errors, status=400)
    # The same form submitted twice with the same content reuses one payment and one Checkout
    # Session while it is open; sent again once that payment is over, it starts a new one.
    form_token = values.get("form_token") or secrets.token_urlsafe(16)
    try:
        result = await request.app[checkout_key].start(
            order,
            f"form:{form_token}:{order.fingerprint()}",
            client=client_id(request),
            replace_finished=True,
        )
    except TooManyAttempts as exc:
        response = _payment_page(request, values, errors={"form": exc.message}, status=429)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except StripeUnavailable as exc:
        return _payment_page(request, values, errors={"form": exc.customer_message}, status=502)
    if result.redirect_to_checkout and result.payment.checkout_url:
        raise web.HTTPSeeOther(result.payment.checkout_url)
    raise web.HTTPSeeOther(
        str(request.app.router["payment_status"].url_for(payment_id=result.payment.id))
    )


async def checkout_again(request: web.Request) -> web.StreamResponse:
    """GET /checkout, as after reloading a form that was answered there: back to the payment page."""
    chosen = request.query.get("product", "")
    target = request.app.router["index"].url_for()
    if request.app[catalog_key].get(chosen):  # only a product on offer goes into the URL
        target = target.with_query(product=chosen)
    raise web.HTTPSeeOther(str(target))


async def payment_status(request: web.Request) -> web.Response:
    payment = await _payment_or_404(request)
    # Back from checkout before Stripe's webhook: say we are confirming, not "waiting for payment".
    returning = "session_id" in request.query
    # Stripe is asked in the background; the page shows what comes of it live.
    request.app[confirmer_key].customer_returned(payment, request.query.get("session_id"))
    return _live_page(request, "status.html", payment, returning=returning)


async def payment_cancelled(request: web.Request) -> web.Response:
    """Where the checkout's back link leads: the payment's real state, live like the status
    page, since the tab may be old (history) or stay open while the payment goes on."""
    return _live_page(request, "cancelled.html", await _payment_or_404(request), returning=False)


def _live_page(
    request: web.Request, template: str, payment: Payment, *, returning: bool
) -> web.Response:
    """A page static/status.js keeps up to date: the snapshot the live socket sends, and how
    often its heartbeat comes."""
    pages = request.app[status_pages_key]
    context = {
        "payment": pages.snapshot(payment),
        "returning": returning,
        "heartbeat_s": pages.hub.heartbeat_every_s,
    }
    response = render(request, template, context)
    response.headers["Cache-Control"] = "no-store"
    return response


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
        "focus": _first_invalid(errors, selected),
        "form_token": values.get("form_token") or secrets.token_urlsafe(16),
        "amount_value": partial(_amount_value, locale=catalog.locale),
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


def _first_invalid(errors: dict[str, str], product: Product) -> str | None:
    """The id of the first box on the page with an error: the cursor starts there, without JavaScript."""
    boxes = {  # in the order the page shows them
        "product": f"product-{product.id}",
        "amount": f"amount-{product.id}",
        "quantity": f"quantity-{product.id}",
        "name": "name",
        "email": "email",
    }
    return next((box for field, box in boxes.items() if field in errors), None)


def _amount_value(product: Product, values: dict[str, str], locale: str) -> str:
    """What the amount box shows: what the customer typed, else the first suggested amount as they write it."""
    typed = values.get(f"amount-{product.id}")
    if typed is not None:
        return typed
    if product.custom_amount and product.custom_amount.presets:
        return format_major(product.custom_amount.presets[0], product.currency, locale)
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
