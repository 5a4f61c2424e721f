"""Live payment status: who watches which payment, and pushing each committed change to them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import WSCloseCode, web

from .keys import catalog_key, config_key, db_key, live_hub_key, payment_listeners_key
from .payments import get_payment
from .socket_sender import BoundedSender
from .status_view import payment_snapshot

log = logging.getLogger(__name__)

# The page cannot see pings, so a socket a proxy holds open and silent would look like a quiet
# one. Every socket gets this frame every HEARTBEAT_EVERY_S; the page gives up on a socket that
# says nothing for 2.5 times as long (static/status.js).
HEARTBEAT_FRAME = json.dumps({"type": "heartbeat"})
HEARTBEAT_EVERY_S = 15.0
# One task sends every heartbeat: each tick it visits one of this many slots of sockets, so 10,000
# sockets cost one short burst of ~70 writes every 0.1 s rather than a task or a timer each.
HEARTBEAT_SLOTS = 150


@dataclass(eq=False)
class Watcher:
    """One open status page on one payment; only snapshots newer than the last queued are sent."""

    payment_id: str
    sender: BoundedSender
    last_version: int = 0
    slot: int = 0  # which of the hub's heartbeat slots it is in

    @property
    def ws(self) -> web.WebSocketResponse:
        return self.sender.ws

    def offer(self, version: int, frame: str) -> bool:
        """Queue a newer snapshot; False when the client is not keeping up."""
        if version <= self.last_version:
            return True  # an older or equal snapshot: the client already has (or will get) newer
        if not self.sender.offer(frame):
            return False
        self.last_version = version
        return True


class Full(Exception):
    """No room for another watcher; `reason` goes into the close frame."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LiveHub:
    def __init__(
        self,
        *,
        max_total: int,
        max_per_payment: int,
        heartbeat_every_s: float = HEARTBEAT_EVERY_S,
    ) -> None:
        self.max_total = max_total
        self.max_per_payment = max_per_payment
        self.heartbeat_every_s = heartbeat_every_s  # the status page reads it to set its deadline
        self._by_payment: dict[str, set[Watcher]] = {}
        self._count = 0
        self._slots: list[set[Watcher]] = [set() for _ in range(HEARTBEAT_SLOTS)]
        self._next_slot = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self, watcher: Watcher) -> None:
        watchers = self._by_payment.setdefault(watcher.payment_id, set())
        if self._count >= self.max_total:
            raise Full("server is at its live connection limit; retry later")
        if len(watchers) >= self.max_per_payment:
            raise Full("too many open pages for this payment")
        watchers.add(watcher)
        self._count += 1
        watcher.slot = self._next_slot
        self._slots[watcher.slot].add(watcher)
        self._next_slot = (self._next_slot + 1) % HEARTBEAT_SLOTS

    def remove(self, watcher: Watcher) -> None:
        watchers = self._by_payment.get(watcher.payment_id)
        if watchers and watcher in watchers:
            watchers.discard(watcher)
            self._slots[watcher.slot].discard(watcher)
            self._count -= 1
            if not watchers:
                del self._by_payment[watcher.payment_id]

    def watching(self, payment_id: str) -> bool:
        return bool(self._by_payment.get(payment_id))

    def publish(self, payment_id: str, version: int, frame: str) -> None:
        """Hand a frame to every watcher of the payment without waiting on any of them."""
        for watcher in list(self._by_payment.get(payment_id, ())):
            if not watcher.offer(version, frame):
                log.info("dropping a live client of %s that stopped reading", payment_id)
                watcher.sender.drop()

    async def send_heartbeats(self) -> None:
        """Runs for the hub's lifetime: every socket gets HEARTBEAT_FRAME once per interval, one
        slot per tick, unless it is busy sending (which says as much)."""
        slot = 0
        while True:
            await asyncio.sleep(self.heartbeat_every_s / HEARTBEAT_SLOTS)
            for watcher in list(self._slots[slot]):
                await watcher.sender.send_if_idle(HEARTBEAT_FRAME)
            slot = (slot + 1) % HEARTBEAT_SLOTS

    async def close_all(self) -> None:
        sockets = [w.ws for watchers in self._by_payment.values() for w in watchers]
        await asyncio.gather(
            *(
                ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
                for ws in sockets
            ),
            return_exceptions=True,
        )


async def snapshot_frame(app: web.Application, payment_id: str) -> tuple[int, str] | None:
    """The payment's current snapshot as (version, JSON frame), read from committed state."""
    payment = await get_payment(app[db_key], payment_id)
    if payment is None:
        return None
    body = {
        "type": "payment",
        "version": payment.version,
        "payment": payment_snapshot(
            payment, app[catalog_key], shop_url=app[config_key].public_url + "/"
        ),
    }
    return payment.version, json.dumps(body)


async def payment_changed(app: web.Application, payment_id: str) -> None:
    """Call after the transaction that created or changed a payment has committed: pushes it to
    the customer's open status pages, then to every listener (such as the operator's live feed)."""
    hub = app[live_hub_key]
    if hub.watching(payment_id):  # nobody looking: skip the read
        frame = await snapshot_frame(app, payment_id)
        if frame is not None:
            hub.publish(payment_id, *frame)
    for listener in app[payment_listeners_key]:
        await listener(app, payment_id)


async def live_hub_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]
    hub = app[live_hub_key] = LiveHub(
        max_total=config.live_max_connections, max_per_payment=config.live_max_per_payment
    )
    heartbeats = asyncio.get_running_loop().create_task(hub.send_heartbeats())
    yield
    heartbeats.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heartbeats


async def close_live_sockets(app: web.Application) -> None:
    """on_shutdown: sockets must close before the server waits for open handlers to finish,
    and cleanup contexts only end after that wait."""
    if live_hub_key in app:
        await app[live_hub_key].close_all()
