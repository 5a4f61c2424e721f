"""GET /admin/live: the operators' WebSocket; each committed payment change arrives as one frame."""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, WSMsgType, web

from ...payments import now_ms
from ...socket_sender import HEARTBEAT, BoundedSender
from ..feed import QUEUE_SIZE, FeedFull, OperatorSocket
from ..guard import operator_socket
from ..keys import console_key, session_key


@operator_socket
async def admin_live(request: web.Request) -> web.WebSocketResponse:
    state = request.app[console_key]
    session = request[session_key]
    # No permessage-deflate: frames are small, and each compressed socket holds ~100 KB of zlib state.
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=1024, compress=False)
    await ws.prepare(request)
    sock = OperatorSocket(
        BoundedSender(ws, request.transport, queue_size=QUEUE_SIZE), session.token_hash
    )
    try:
        state.feed.add(sock)
    except FeedFull:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too many console pages open")
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
        state.feed.remove(sock)
        await sock.sender.close()
        await ws.close()
    return ws
