"""GET /payments/{payment_id}/live: a WebSocket that sends the payment's snapshot now and on every change."""

from __future__ import annotations

from aiohttp import WSCloseCode, WSMsgType, web

from ..keys import db_key, live_hub_key
from ..live import Full, Watcher, snapshot_frame
from ..payments import get_payment
from ..socket_sender import HEARTBEAT, BoundedSender

TRY_AGAIN_LATER = WSCloseCode.TRY_AGAIN_LATER
QUEUE_SIZE = 8  # snapshots waiting for one page; more means it stopped reading


async def payment_live(request: web.Request) -> web.WebSocketResponse:
    payment_id = request.match_info["payment_id"]
    if await get_payment(request.app[db_key], payment_id) is None:
        raise web.HTTPNotFound(text="We have no payment at this address.")
    # No permessage-deflate: frames are small, and each compressed socket holds ~100 KB of zlib state.
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=1024, compress=False)
    await ws.prepare(request)
    hub = request.app[live_hub_key]
    watcher = Watcher(payment_id, BoundedSender(ws, request.transport, queue_size=QUEUE_SIZE))
    try:
        hub.add(watcher)
    except Full as exc:
        await ws.close(code=TRY_AGAIN_LATER, message=exc.reason.encode())
        return ws
    try:
        # Registered first, then read: a change committed in between is pushed, not missed.
        frame = await snapshot_frame(request.app, payment_id)
        if frame is not None:
            watcher.offer(*frame)
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break  # the client went away; nothing it sends changes what we push
    finally:
        hub.remove(watcher)
        await watcher.sender.close()
        await ws.close()
    return ws
