"""A payment's notifications to the operator's systems: every delivery and attempt, and redelivery."""

from __future__ import annotations

from aiohttp import web

from ...notify.outbox import RedeliverRefused, for_payment, redeliver
from ...payments import Payment, get_payment
from ...web.keys import config_key, db_key, events_key
from ..guard import operator_page
from .common import console_error, not_found, page, see_other

NOTICES = {"redelivered": "The notification is queued to go out again now."}


async def _payment(request: web.Request) -> Payment:
    payment = await get_payment(request.app[db_key], request.match_info["payment_id"])
    if payment is None:
        raise not_found(request, "There is no payment with that id.")
    return payment


async def _page(request: web.Request, payment: Payment, *, status: int = 200) -> web.Response:
    notify = request.app[config_key].notify
    context = {
        "payment": payment,
        "found": await for_payment(request.app[db_key], payment.id),
        "enabled": notify.enabled,
        "notice": NOTICES.get(request.query.get("done", "")),
    }
    return page(request, "admin/notifications.html", context, status=status)


@operator_page
async def payment_notifications(request: web.Request) -> web.Response:
    return await _page(request, await _payment(request))


@operator_page
async def redeliver_notification(request: web.Request) -> web.Response:
    """Send one delivery again now; the receiver recognises a copy by the notification's id."""
    payment = await _payment(request)
    retry_for_ms = int(request.app[config_key].notify.retry_for_s * 1000)
    delivery = (await request.post()).get("delivery")
    try:
        if not isinstance(delivery, str) or not delivery:
            raise RedeliverRefused("Choose which delivery to send again.")
        await redeliver(request.app[db_key], payment.id, delivery[:100], retry_for_ms)
    except RedeliverRefused as exc:
        return console_error(request, 404, str(exc))
    await request.app[events_key].committed(payment.id)  # wakes the notification sender now
    raise see_other(request, "admin.notifications", {"done": "redelivered"}, payment_id=payment.id)
