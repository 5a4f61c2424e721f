"""The public JSON API: products, starting a checkout, and a payment's status."""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from ...catalog import Product
from ...orders import InvalidOrder, order_from_json
from ...payments import get_payment
from ...rate_limit import TooManyAttempts
from ...status_view import payment_snapshot
from ...stripe_gateway import StripeUnavailable
from ..client import client_id
from ..keys import catalog_key, checkout_key, config_key, db_key

MAX_IDEMPOTENCY_KEY = 255


def _error(status: int, field: str | None, message: str) -> web.Response:
    return web.json_response({"error": {"field": field, "message": message}}, status=status)


async def products(request: web.Request) -> web.Response:
    config = request.app[config_key]
    return web.json_response(
        {
            "data": [
                _product_json(p, config.public_url, request)
                for p in request.app[catalog_key].products
            ]
        }
    )


async def create_checkout(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text="Send the checkout as JSON with Content-Type: application/json."
        )
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return _error(400, None, "The body is not valid JSON.")
    idempotency_key = request.headers.get("Idempotency-Key", "")
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        return _error(
            400,
            "Idempotency-Key",
            f"Use an Idempotency-Key of at most {MAX_IDEMPOTENCY_KEY} characters.",
        )
    try:
        order = order_from_json(request.app[catalog_key], body)
    except InvalidOrder as exc:
        return _error(400, exc.field, exc.message)
    # With an Idempotency-Key, a retried request returns the payment the first one created.
    request_key = f"api:{idempotency_key or secrets.token_urlsafe(16)}:{order.fingerprint()}"
    try:
        result = await request.app[checkout_key].start(
            order, request_key, client=client_id(request)
        )
    except TooManyAttempts as exc:
        response = _error(429, None, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except StripeUnavailable as exc:
        return _error(502, None, exc.customer_message)
    payment = result.payment
    public_url = request.app[config_key].public_url
    status_url = public_url + str(
        request.app.router["payment_status"].url_for(payment_id=payment.id)
    )
    return web.json_response(
        {
            "payment_id": payment.id,
            "checkout_url": payment.checkout_url if result.redirect_to_checkout else None,
            "status_url": status_url,
            "status": payment.status,
        },
        status=201,
    )


async def payment(request: web.Request) -> web.Response:
    found = await get_payment(request.app[db_key], request.match_info["payment_id"])
    if found is None:
        return _error(404, None, "No payment has this id.")
    shop_url = request.app[config_key].public_url + "/"
    return web.json_response(
        payment_snapshot(found, request.app[catalog_key], shop_url=shop_url),
        headers={"Cache-Control": "no-store"},
    )


def _product_json(product: Product, public_url: str, request: web.Request) -> dict[str, Any]:
    custom = product.custom_amount
    pay_url = request.app.router["index"].url_for().with_query(product=product.id)
    return {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "currency": product.currency,
        "unit_amount": product.unit_amount,
        "min_quantity": product.min_quantity,
        "max_quantity": product.max_quantity,
        "custom_amount": (
            {"minimum": custom.minimum, "maximum": custom.maximum, "presets": list(custom.presets)}
            if custom
            else None
        ),
        "pay_url": f"{public_url}{pay_url}",
    }
