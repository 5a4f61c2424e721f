"""A bounded outgoing queue per WebSocket: frames a client is slow to take are never waited on."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

SEND_TIMEOUT = 5.0
# Every socket pings this often, below the 30-60 s idle timeouts of common proxies.
HEARTBEAT = 25.0


@dataclass(eq=False)
class BoundedSender:
    """Queues frames for one socket and sends them from a task of its own, which runs only while
    there is something to send (an idle socket holds no task). A client that stops reading fills
    the queue and is cut off, so a publisher never waits on anyone."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    queue_size: int = 8
    _frames: deque[str] = field(init=False, default_factory=deque)
    _task: asyncio.Task[None] | None = field(init=False, default=None)

    def offer(self, frame: str) -> bool:
        """Queue a frame; False when the queue is full (the client is not keeping up)."""
        if len(self._frames) >= self.queue_size:
            return False
        self._frames.append(frame)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send_queued())
        return True

    async def send_if_idle(self, frame: str) -> None:
        """Send `frame` now, unless the socket is busy: frames queued or on their way say as much,
        and unsent bytes mean the client is behind. So this never waits on a client: with nothing
        buffered the write completes at once, and it needs no task of its own."""
        sending = self._task is not None and not self._task.done()
        if sending or self.ws.closed or self.transport is None:
            return
        if self.transport.is_closing() or self.transport.get_write_buffer_size():
            return
        try:
            await self.ws.send_str(frame)
        except ConnectionError:
            self.drop()

    async def _send_queued(self) -> None:
        while self._frames:
            frame = self._frames.popleft()
            try:
                # A timeout scope, not wait_for: on Python 3.11 that wraps each send in a task.
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self.ws.send_str(frame)
            except (TimeoutError, ConnectionError):
                self.drop()
                return

    async def close(self) -> None:
        """Stop sending; called when the socket's handler ends."""
        self._frames.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def drop(self) -> None:
        """Cut the connection; the page reconnects and gets the current state."""
        if self.transport is not None:
            self.transport.abort()
