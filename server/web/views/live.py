"""GET /payments/{payment_id}/live: a WebSocket that sends the payment's snapshot now and on every change."""

from __future__ import annotations

from aiohttp import WSCloseCode, WSMsgType, web

from ...payments import get_payment
from ..fanout import BoundedSender, Full, Subscriber, live_socket, release_socket
from ..keys import db_key, status_pages_key

QUEUE_SIZE = 8  # snapshots waiting for one page; more means it stopped reading


async def payment_live(request: web.Request) -> web.WebSocketResponse:
    payment_id = request.match_info["payment_id"]
    db = request.app[db_key]
    if await get_payment(db, payment_id) is None:
        raise web.HTTPNotFound(text="We have no payment at this address.")
    ws = live_socket()
    await ws.prepare(request)
    pages = request.app[status_pages_key]
    page = Subscriber(payment_id, BoundedSender(ws, request.transport, queue_size=QUEUE_SIZE))
    try:
        pages.hub.add(page)
    except Full as exc:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=exc.reason.encode())
        release_socket(request, ws)
        return ws
    try:
        # Registered first, then read: a change committed in between is pushed, not missed.
        payment = await get_payment(db, payment_id)
        if payment is not None:
            page.offer(pages.frame(payment), payment.version)
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break  # the client went away; nothing it sends changes what we push
    finally:
        pages.hub.remove(page)
        await page.sender.close()
        await ws.close()
        release_socket(request, ws)
    return ws
