"""GET /payments/{payment_id}/live: a WebSocket that sends the payment's snapshot now and on every change."""

from __future__ import annotations

from aiohttp import WSCloseCode, WSMsgType, web

from ...db import Database
from ...payments import get_payment
from ..fanout import BoundedSender, Full, Subscriber, live_socket, release_socket
from ..keys import db_key, status_pages_key
from ..live import StatusPages

QUEUE_SIZE = 8  # snapshots waiting for one page; more means it stopped reading
# What ends the socket: the client closed it, or went away (ERROR).
ENDED = frozenset((WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR))


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
        await _offer_current(page, pages, db, payment_id)
        # Nothing a client sends changes what we push. receive(), not `async for`: the iterator
        # wraps each receive in a coroutine of its own, alive for as long as the socket is idle.
        while (await ws.receive()).type not in ENDED:
            pass
    finally:
        pages.hub.remove(page)
        await page.sender.close()
        await ws.close()
        release_socket(request, ws)
    return ws


async def _offer_current(
    page: Subscriber, pages: StatusPages, db: Database, payment_id: str
) -> None:
    """Queue the payment as it is now. A function of its own so that the row is freed once its
    frame is queued: a local of the handler would stay alive as long as the socket is open."""
    payment = await get_payment(db, payment_id)
    if payment is not None:
        page.offer(pages.frame(payment), payment.version)
