"""The operators' live feed: every committed payment change, fanned out to open console sockets."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from ..keys import db_key
from ..money import format_amount
from ..payments import Payment, get_payment
from ..socket_sender import BoundedSender
from .keys import console_key

log = logging.getLogger(__name__)

QUEUE_SIZE = 32  # frames waiting for one operator socket; more means it stopped reading
MAX_SOCKETS = 50


@dataclass(eq=False)
class OperatorSocket:
    """One open console page; a slow one is cut, never waited on."""

    sender: BoundedSender
    session_hash: str

    @property
    def ws(self) -> web.WebSocketResponse:
        return self.sender.ws


class FeedFull(Exception):
    """No room for another operator socket."""


class Feed:
    def __init__(self, max_sockets: int = MAX_SOCKETS) -> None:
        self.max_sockets = max_sockets
        self._sockets: set[OperatorSocket] = set()

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, sock: OperatorSocket) -> None:
        if len(self._sockets) >= self.max_sockets:
            raise FeedFull
        self._sockets.add(sock)

    def remove(self, sock: OperatorSocket) -> None:
        self._sockets.discard(sock)

    def publish(self, frame: str) -> None:
        for sock in list(self._sockets):
            if not sock.sender.offer(frame):
                log.info("dropping an operator socket that stopped reading")
                sock.sender.drop()

    async def close(self, *, only: str | None = None, keep: str | None = None) -> None:
        """Close the sockets of session `only` (signed out), or all but `keep`'s, or all."""
        chosen = [
            s for s in self._sockets if only in (None, s.session_hash) and s.session_hash != keep
        ]
        await asyncio.gather(
            *(s.ws.close(code=WSCloseCode.GOING_AWAY, message=b"signed out") for s in chosen),
            return_exceptions=True,
        )


def feed_item(payment: Payment, detail_url: str) -> dict[str, Any]:
    """What the dashboard's feed shows of a payment: the operator sees everything."""
    return {
        "id": payment.id,
        "version": payment.version,
        "status": payment.status,
        "status_label": payment.status.replace("_", " "),
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_display": format_amount(payment.amount, payment.currency),
        "product_name": payment.product_name,
        "customer_name": payment.customer_name,
        "customer_email": payment.customer_email,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "url": detail_url,
    }


async def feed_listener(app: web.Application, payment_id: str) -> None:
    """In app[payment_listeners_key]: one read per change, and only when an operator is watching."""
    feed = app[console_key].feed
    if not len(feed):
        return
    payment = await get_payment(app[db_key], payment_id)
    if payment is None:
        return
    url = str(app.router["admin.payment"].url_for(payment_id=payment.id))
    feed.publish(json.dumps({"type": "payment", "payment": feed_item(payment, url)}))


async def close_feed(app: web.Application) -> None:
    """on_shutdown: open sockets close before the server waits for handlers to finish."""
    if console_key in app:
        await app[console_key].feed.close()
