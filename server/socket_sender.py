"""A bounded outgoing queue per WebSocket: frames a client is slow to take are never waited on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

SEND_TIMEOUT = 5.0


@dataclass(eq=False)
class BoundedSender:
    """Queues frames for one socket and sends them from its own task; a client that stops
    reading fills the queue and is cut off, so a publisher never waits on anyone."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    queue_size: int = 8
    queue: asyncio.Queue[str] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def offer(self, frame: str) -> bool:
        """Queue a frame; False when the queue is full (the client is not keeping up)."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    async def send_forever(self) -> None:
        while True:
            frame = await self.queue.get()
            try:
                await asyncio.wait_for(self.ws.send_str(frame), SEND_TIMEOUT)
            except (TimeoutError, ConnectionError):
                self.drop()
                return

    def drop(self) -> None:
        """Cut the connection; the page reconnects and gets the current state."""
        if self.transport is not None:
            self.transport.abort()
