"""The admin JSON API under /api/admin: a sub-app whose every route needs a Bearer token.

A mounted app of its own: the root app's CSRF check (for cookie-carrying form posts) does not
apply to it, and no cookie opens it; its own middlewares answer errors as JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ..lifecycle import Facts
from ..payments import Payment, get_payment
from ..refunds import (
    REASONS,
    RefundError,
    RefundRequest,
    check_reason,
    remaining,
    request_refund,
    requests_for,
)
from ..web.errors import error_message
from ..web.keys import config_key, db_key, stripe_key
from .guard import bearer_middleware
from .keys import api_token_key, status_url_key
from .queries import Cursor, FilterError, list_payments, parse_filter
from .serialize import payment_json, refund_request_json
from .timeline import event_rows, mail_rows

log = logging.getLogger(__name__)
MAX_LIMIT = 200
IDEMPOTENCY_KEY_LIMIT = 100


def error(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"field": field, "message": message}}, status=status, headers=headers
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {
            k: v
            for k, v in exc.headers.items()
            if k in ("WWW-Authenticate", "Retry-After", "Allow")
        }
        return error(exc.status, error_message(exc), headers=headers)


def _status_url(request: web.Request, payment_id: str) -> str:
    return request.app[status_url_key](payment_id)


async def list_endpoint(request: web.Request) -> web.Response:
    try:
        chosen = parse_filter(request.query)
        after = Cursor.decode(request.query["cursor"]) if request.query.get("cursor") else None
        limit_text = request.query.get("limit", "50")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise FilterError("limit", f"limit: a whole number from 1 to {MAX_LIMIT}.")
    except FilterError as exc:
        return error(400, exc.message, exc.field)
    found = await list_payments(request.config_dict[db_key], chosen, after, int(limit_text))
    return web.json_response(
        {
            "data": [payment_json(p, _status_url(request, p.id)) for p in found.payments],
            "has_more": found.next_cursor is not None,
            "next_cursor": found.next_cursor.encode() if found.next_cursor else None,
        }
    )


async def _payment(request: web.Request) -> Payment:
    payment = await get_payment(request.config_dict[db_key], request.match_info["payment_id"])
    if payment is None:
        raise web.HTTPNotFound(text="There is no payment with that id.")
    return payment


async def detail_endpoint(request: web.Request) -> web.Response:
    db = request.config_dict[db_key]
    payment = await _payment(request)
    facts = Facts.from_json(payment.facts)
    requests = await requests_for(db, payment.id)
    body: dict[str, Any] = {
        **payment_json(payment, _status_url(request, payment.id)),
        "refundable_amount": remaining(payment, facts, requests)
        if payment.payment_intent_id
        else 0,
        "refunds": [
            {"id": rid, "amount": r.amount, "status": r.status} for rid, r in facts.refunds.items()
        ],
        "disputes": [
            {
                "id": did,
                "status": d.status,
                "reason": d.reason,
                "amount": d.amount,
                "due_by": d.due_by,
            }
            for did, d in facts.disputes.items()
        ],
        "refund_requests": [refund_request_json(r) for r in requests],
        "events": await event_rows(db, payment.id),
        "mails": await mail_rows(db, payment.id),
    }
    return web.json_response(body)


async def refund_endpoint(request: web.Request) -> web.Response:
    payment = await _payment(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error(
            400, 'Send a JSON object, like {"amount": 500, "reason": "requested_by_customer"}.'
        )
    if not isinstance(body, dict) or set(body) - {"amount", "reason"}:
        return error(
            400,
            "Send a JSON object with only 'amount' (minor units, optional) and 'reason' (optional).",
        )
    amount = body.get("amount")
    if amount is not None and (
        not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0
    ):
        return error(
            400,
            "amount: a whole number of minor units greater than zero (1250 is €12.50).",
            "amount",
        )
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > IDEMPOTENCY_KEY_LIMIT:
        return error(400, f"Idempotency-Key: at most {IDEMPOTENCY_KEY_LIMIT} characters.")
    token = request[api_token_key]
    form_token = _form_token(token.id, key) if key else "api:" + secrets.token_urlsafe(24)
    reason_value = body.get("reason")
    try:
        if reason_value is not None and not isinstance(reason_value, str):
            raise RefundError("invalid", f"reason: one of {', '.join(REASONS)}.")
        result, sent_now = await request_refund(
            request.config_dict[db_key], request.config_dict[stripe_key], payment.id, form_token,
            amount, check_reason(reason_value), f"api:{token.name}",
        )  # fmt: skip
    except RefundError as exc:
        return error(exc.http_status, exc.message, "amount" if exc.kind == "over" else None)
    return _refund_answer(result, sent_now)


def _form_token(token_id: int, key: str) -> str:
    # Scoped to the API token, so two scripts cannot collide on the same Idempotency-Key.
    return "api:" + hashlib.sha256(f"{token_id}:{key}".encode()).hexdigest()[:40]


def _refund_answer(result: RefundRequest, sent_now: bool) -> web.Response:
    body = {"refund_request": refund_request_json(result)}
    if (
        result.state == "sent"
    ):  # 200: a retry with the same Idempotency-Key, answered from the record
        return web.json_response(body, status=201 if sent_now else 200)
    if result.state == "unavailable":
        return error(
            503, result.message or "Stripe could not be reached.", headers={"Retry-After": "60"}
        )
    if result.state == "refused":
        return error(409, result.message or "Stripe refused the refund.")
    if result.state == "sending":
        return error(409, "This refund is already being sent to Stripe; ask again in a moment.")
    return error(409, "This request was discarded; send a new one with another Idempotency-Key.")


def create_api_app(root: web.Application) -> web.Application:
    api = web.Application(middlewares=[json_errors, bearer_middleware], client_max_size=16 * 1024)
    config = root[config_key]
    api[status_url_key] = lambda payment_id: (
        config.public_url + str(root.router["payment_status"].url_for(payment_id=payment_id))
    )
    api.router.add_get("/payments", list_endpoint, name="payments")
    api.router.add_get("/payments/{payment_id}", detail_endpoint, name="payment")
    api.router.add_post("/payments/{payment_id}/refunds", refund_endpoint, name="refunds")
    return api
