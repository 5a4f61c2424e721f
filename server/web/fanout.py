"""One fan-out hub for live sockets: subscribers by topic, a bounded sender each, shared heartbeats.

Customer status pages subscribe to their payment's id, operator consoles to one shared topic. A
publisher hands each subscriber a frame and moves on: a client that stops reading fills its small
queue and is cut off (it reconnects and reads the current state), so nobody is ever waited on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

SEND_TIMEOUT = 5.0
# Every socket pings this often, below the 30-60 s idle timeouts of common proxies.
PING_EVERY_S = 25.0
# A page cannot see pings, so a socket a proxy holds open and silent would look like a quiet one.
# Every subscriber gets this frame every `heartbeat_every_s`; the status page gives up on a socket
# that says nothing for 2.5 times as long (static/status.js).
HEARTBEAT_FRAME = json.dumps({"type": "heartbeat"})
HEARTBEAT_EVERY_S = 15.0
# One task sends every heartbeat: each tick it visits one of this many slots of subscribers, so
# 10,000 sockets cost one short burst of ~70 writes every 0.1 s rather than a task or timer each.
HEARTBEAT_SLOTS = 150


@dataclass(eq=False)
class BoundedSender:
    """Queues frames for one socket and sends them from a task of its own, which runs only while
    there is something to send (an idle socket holds no task). A client that stops reading fills
    the queue and is cut off, so a publisher never waits on anyone."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    queue_size: int = 8
    # A list, not a deque: it holds a few frames at most, and an empty deque keeps a block of 64
    # slots (~600 B) for every idle socket.
    _frames: list[str] = field(init=False, default_factory=list)
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
        try:
            while self._frames:
                frame = self._frames.pop(0)
                try:
                    # A timeout scope, not wait_for: on Python 3.11 that wraps each send in a task.
                    async with asyncio.timeout(SEND_TIMEOUT):
                        await self.ws.send_str(frame)
                except (TimeoutError, ConnectionError):
                    self.drop()
                    return
        finally:
            # Let go of the finished task: with its coroutine and context it would otherwise stay
            # with the socket for as long as it is idle.
            self._task = None

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


def live_socket() -> web.WebSocketResponse:
    """A server-push socket: pinged, tiny incoming messages, and no permessage-deflate (frames are
    small, and each compressed socket holds ~100 KB of zlib state)."""
    return web.WebSocketResponse(heartbeat=PING_EVERY_S, max_msg_size=1024, compress=False)


def release_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Called last in a live handler, so a closed socket is freed at once, not at a full collection.

    Two reference cycles in aiohttp would otherwise keep the socket, its request, transport and
    buffers (~77 objects) alive until a full collection, which paydesk runs only at quiet moments
    (gc_schedule.py): with thousands of sockets dropped a minute, tens of MB pile up in between.
    - Every socket: the request's connection keeps the socket's heartbeat callback, a bound method
      of the socket, which holds the request. Dropped here: the handler is over, no heartbeat follows.
    - When a client vanishes, the socket keeps the error it met closing ("Cannot write to closing
      transport", chained to the end-of-stream or cancellation before it), and each traceback holds
      frames whose `self` is the socket: the tracebacks go, the errors stay readable.
    """
    protocol = request.protocol
    if protocol is not None:
        # A private attribute of aiohttp's RequestHandler, set by WebSocketResponse.prepare.
        protocol._data_received_cb = None
    chained = [ws.exception()]
    seen: set[int] = set()
    while chained:
        error = chained.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        error.__traceback__ = None
        chained += [error.__cause__, error.__context__]


@dataclass(eq=False)
class Subscriber:
    """One open page on one topic. Frames carrying a version are sent only when newer than the
    last one queued (a page never goes back); `owner` says whose page it is (a console session)."""

    topic: str
    sender: BoundedSender
    owner: str = ""
    last_version: int = 0
    slot: int = 0  # which of the hub's heartbeat slots it is in

    @property
    def ws(self) -> web.WebSocketResponse:
        return self.sender.ws

    def offer(self, frame: str, version: int | None = None) -> bool:
        """Queue a frame; False when the client is not keeping up."""
        if version is not None and version <= self.last_version:
            return True  # the client already has (or will get) this or a newer one
        if not self.sender.offer(frame):
            return False
        if version is not None:
            self.last_version = version
        return True


class Full(Exception):
    """No room for another subscriber; `reason` goes into the close frame."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Hub:
    """Subscribers by topic, with a cap in all and per topic."""

    def __init__(
        self,
        *,
        max_total: int,
        max_per_topic: int,
        heartbeat_every_s: float = HEARTBEAT_EVERY_S,
        full_per_topic: str = "too many open pages for this payment",
    ) -> None:
        self.max_total = max_total
        self.max_per_topic = max_per_topic
        self.heartbeat_every_s = heartbeat_every_s  # pages read it to set their deadline
        self._full_per_topic = full_per_topic
        # Lists, not sets: a topic has a few subscribers at most (max_per_topic), and most status
        # pages are alone on theirs, where a set would cost ~100 B more per socket.
        self._by_topic: dict[str, list[Subscriber]] = {}
        self._count = 0
        self._slots: list[set[Subscriber]] = [set() for _ in range(HEARTBEAT_SLOTS)]
        self._next_slot = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self, subscriber: Subscriber) -> None:
        if self._count >= self.max_total:
            raise Full("server is at its live connection limit; retry later")
        subscribers = self._by_topic.setdefault(subscriber.topic, [])
        if len(subscribers) >= self.max_per_topic:
            raise Full(self._full_per_topic)
        subscribers.append(subscriber)
        self._count += 1
        subscriber.slot = self._next_slot
        self._slots[subscriber.slot].add(subscriber)
        self._next_slot = (self._next_slot + 1) % HEARTBEAT_SLOTS

    def remove(self, subscriber: Subscriber) -> None:
        subscribers = self._by_topic.get(subscriber.topic)
        if subscribers and subscriber in subscribers:
            subscribers.remove(subscriber)
            self._slots[subscriber.slot].discard(subscriber)
            self._count -= 1
            if not subscribers:
                del self._by_topic[subscriber.topic]

    def watching(self, topic: str) -> bool:
        return bool(self._by_topic.get(topic))

    def publish(self, topic: str, frame: str, version: int | None = None) -> None:
        """Hand a frame to every subscriber of the topic without waiting on any of them."""
        for subscriber in list(self._by_topic.get(topic, ())):
            if not subscriber.offer(frame, version):
                log.info("dropping a live client of %s that stopped reading", topic[:12])
                subscriber.sender.drop()

    async def send_heartbeats(self) -> None:
        """Runs for the hub's lifetime: every socket gets HEARTBEAT_FRAME once per interval, one
        slot per tick, unless it is busy sending (which says as much)."""
        slot = 0
        while True:
            await asyncio.sleep(self.heartbeat_every_s / HEARTBEAT_SLOTS)
            await self._beat(slot)
            slot = (slot + 1) % HEARTBEAT_SLOTS

    async def _beat(self, slot: int) -> None:
        # A function of its own so that no loop variable outlives the tick: one left in the
        # long-lived loop above would keep the last socket it visited alive, however long ago.
        for subscriber in list(self._slots[slot]):
            await subscriber.sender.send_if_idle(HEARTBEAT_FRAME)

    async def close(
        self, chosen: Callable[[Subscriber], bool] = lambda _: True, *, reason: bytes
    ) -> None:
        """Close the chosen subscribers' sockets (all by default) with GOING_AWAY."""
        sockets = [s.ws for subs in self._by_topic.values() for s in subs if chosen(s)]
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=reason) for ws in sockets),
            return_exceptions=True,
        )
