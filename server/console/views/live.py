"""GET /admin/live: the operators' WebSocket; each committed payment change arrives as one frame."""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, WSMsgType, web

from ...clock import now_ms
from ...web.fanout import BoundedSender, Full, Subscriber, live_socket, release_socket
from ..feed import QUEUE_SIZE, TOPIC
from ..guard import operator_socket
from ..keys import console_key, session_key


@operator_socket
async def admin_live(request: web.Request) -> web.WebSocketResponse:
    state = request.app[console_key]
    session = request[session_key]
    ws = live_socket()
    await ws.prepare(request)
    sender = BoundedSender(ws, request.transport, queue_size=QUEUE_SIZE)
    page = Subscriber(TOPIC, sender, owner=session.token_hash)
    try:
        state.feed.hub.add(page)
    except Full as exc:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=exc.reason.encode())
        release_socket(request, ws)
        return ws
    # The socket lives no longer than the session may: signed out at the absolute timeout.
    left = session.created_at / 1000 + state.settings.session_max_seconds - now_ms() / 1000
    try:
        async with asyncio.timeout(max(left, 0)):
            async for message in ws:
                if message.type is WSMsgType.ERROR:
                    break  # the client went away; nothing it sends matters
    except TimeoutError:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"session expired")
    finally:
        state.feed.hub.remove(page)
        await sender.close()
        await ws.close()
        release_socket(request, ws)
    return ws
