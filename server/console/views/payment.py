"""One payment: every field, its timeline, and the actions (refund with confirmation, send a mail again)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from ...clock import now_ms
from ...lifecycle import Facts, Status, refund_failure
from ...mail.outbox import ResendRefused, mail_kind, queue_copy
from ...money import format_major
from ...payments import Payment, get_payment
from ...refunds import (
    REASONS,
    REFUNDABLE,
    RefundError,
    check_reason,
    check_refundable,
    discard,
    parse_amount,
    remaining,
    request_refund,
    requests_for,
)
from ...web.keys import catalog_key, config_key, db_key, events_key, stripe_key
from ..disputes import advise
from ..guard import operator_page
from ..timeline import mail_kinds, timeline
from .common import console_error, not_found, page, see_other

FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NOTICES = {
    "refund-sent": "Stripe accepted the refund. The status changes when Stripe's confirmation arrives, usually within seconds; a bank refund stays pending for a few days.",
    "refund-in-progress": "This refund is already on its way to Stripe; it was not sent twice.",
    "refund-already-sent": "This form was already used and Stripe accepted that refund; it was not sent twice.",
    "receipt": "A copy of the receipt is queued; the mail sender delivers it shortly.",
    "mail": "A copy of the mail is queued; the mail sender delivers it shortly.",
    "discarded": "The request is discarded; its amount can be refunded again.",
}
# While the customer can still pay on the Checkout page; its expiry means something only then.
CHECKOUT_OPEN = frozenset({Status.PENDING, Status.DECLINED, Status.NOT_STARTED})
DASHBOARD = "https://dashboard.stripe.com"
DASHBOARD_PATHS = {
    "pi": "payments",
    "re": "refunds",
    "pyr": "refunds",
    "dp": "disputes",
    "du": "disputes",
    "evt": "events",
}


async def _payment(request: web.Request) -> Payment:
    payment = await get_payment(request.app[db_key], request.match_info["payment_id"])
    if payment is None:
        raise not_found(request, "There is no payment with that id.")
    return payment


def _stripe_link(live: bool) -> Any:
    def link(stripe_id: str | None) -> str | None:
        """A link into Stripe's dashboard for a live-mode id; test mode ids are shown plain."""
        if not live or not stripe_id:
            return None
        path = DASHBOARD_PATHS.get(stripe_id.split("_", 1)[0])
        return f"{DASHBOARD}/{path}/{stripe_id}" if path else None

    return link


async def _detail(
    request: web.Request, payment: Payment, *, status: int = 200, **extra: Any
) -> web.Response:
    db = request.app[db_key]
    config = request.app[config_key]
    facts = Facts.from_json(payment.facts)
    requests = await requests_for(db, payment.id)
    status_path = request.app.router["payment_status"].url_for(payment_id=payment.id)
    left = remaining(payment, facts, requests)
    context = {
        "payment": payment,
        "facts": facts,
        "requests": requests,
        "remaining": left,
        "remaining_major": format_major(left, payment.currency, request.app[catalog_key].locale),
        "refundable": payment.status in REFUNDABLE and left > 0,
        "reasons": REASONS,
        "entries": await timeline(db, payment, requests),
        "mail_kinds": await mail_kinds(db, payment.id),
        "now": now_ms(),
        "status_url": config.public_url + str(status_path),
        "stripe_link": _stripe_link(not config.is_test_mode),
        "advice": [
            advise(did, d, test_mode=config.is_test_mode) for did, d in facts.disputes.items()
        ],
        "checkout_open": payment.status in CHECKOUT_OPEN,
        "refund_failure": refund_failure,
        "notice": NOTICES.get(request.query.get("done", "")),
        "error": None,
        "amount_text": "",
        "reason": "",
        **extra,
    }
    return page(request, "admin/payment.html", context, status=status)


@operator_page
async def payment_detail(request: web.Request) -> web.Response:
    return await _detail(request, await _payment(request))


@operator_page
async def refund_confirm(request: web.Request) -> web.Response:
    """Step one: check what the operator asked for and show it back with a one-time form token."""
    payment = await _payment(request)
    amount_text = request.query.get("amount", "")[:40]
    reason_text = request.query.get("reason", "")[:40]
    try:
        check_refundable(payment)
        left = remaining(
            payment,
            Facts.from_json(payment.facts),
            await requests_for(request.app[db_key], payment.id),
        )
        amount = parse_amount(amount_text, payment.currency, left, request.app[catalog_key].locale)
        reason = check_reason(reason_text)
    except RefundError as exc:
        return await _detail(
            request,
            payment,
            status=exc.http_status,
            error=exc.message,
            amount_text=amount_text,
            reason=reason_text,
        )
    return _confirm_page(request, payment, amount, reason, secrets.token_urlsafe(24), left)


def _confirm_page(
    request: web.Request, payment: Payment, amount: int, reason: str | None, token: str, left: int,
    *, error: str | None = None, status: int = 200,
) -> web.Response:  # fmt: skip
    context = {
        "payment": payment, "amount": amount, "reason": reason or "", "reason_label": REASONS.get(reason or ""),
        "form_token": token, "remaining": left, "whole": amount == left, "error": error,
    }  # fmt: skip
    return page(request, "admin/refund_confirm.html", context, status=status)


@operator_page
async def refund_submit(request: web.Request) -> web.Response:
    """Step two: one request row per form token, one Stripe call per row."""
    payment = await _payment(request)
    form = await request.post()
    token, amount_text = str(form.get("form_token", "")), str(form.get("amount", ""))
    try:
        if not FORM_TOKEN.match(token) or not amount_text.isdigit():
            raise RefundError(
                "invalid", "This confirmation form is damaged; start the refund again."
            )
        reason = check_reason(str(form.get("reason", "")))
        result, sent_now = await request_refund(
            request.app[db_key],
            request.app[stripe_key],
            payment.id,
            token,
            int(amount_text),
            reason,
            "console",
        )
    except RefundError as exc:
        return await _detail(request, payment, status=exc.http_status, error=exc.message)
    if result.state == "unavailable":
        # The same token again: a retry reuses the row and its Stripe idempotency key.
        requests = await requests_for(request.app[db_key], payment.id)
        left = result.amount + remaining(payment, Facts.from_json(payment.facts), requests)
        return _confirm_page(
            request,
            payment,
            result.amount,
            result.reason,
            token,
            left,
            error=result.message,
            status=503,
        )
    if result.state == "refused":
        return await _detail(request, payment, status=409, error=result.message)
    if result.state == "sent":
        done = "refund-sent" if sent_now else "refund-already-sent"
    else:
        done = "discarded" if result.state == "discarded" else "refund-in-progress"
    raise see_other(request, "admin.payment", {"done": done}, payment_id=payment.id)


@operator_page
async def refund_discard(request: web.Request) -> web.Response:
    payment = await _payment(request)
    raw = request.match_info["request_id"]
    if not raw.isdigit() or not await discard(request.app[db_key], payment.id, int(raw)):
        return console_error(
            request, 404, "There is no refund request waiting for a retry with that number."
        )
    raise see_other(request, "admin.payment", {"done": "discarded"}, payment_id=payment.id)


@operator_page
async def resend_mail(request: web.Request) -> web.Response:
    """Send a mail of this payment again: the receipt, or the kind the form names."""
    payment = await _payment(request)
    form = await request.post()
    kind = form.get("kind", "receipt")
    try:
        if not isinstance(kind, str):
            raise ResendRefused("Choose which mail to send again.")
        await queue_copy(request.app[db_key], payment.id, mail_kind(kind))
    except ResendRefused as exc:
        return await _detail(request, payment, status=409, error=str(exc))
    await request.app[events_key].committed(payment.id)  # the mail sender wakes for it now
    done = "receipt" if kind == "receipt" else "mail"
    raise see_other(request, "admin.payment", {"done": done}, payment_id=payment.id)
