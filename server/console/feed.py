"""The operators' live feed: every committed payment change, as one frame to each open console page."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..money import format_amount
from ..payments import Payment
from ..web.fanout import Hub

TOPIC = "operators"  # every console page hears of every payment
QUEUE_SIZE = 32  # frames waiting for one operator socket; more means it stopped reading
MAX_SOCKETS = 50


def operator_hub() -> Hub:
    return Hub(
        max_total=MAX_SOCKETS,
        max_per_topic=MAX_SOCKETS,
        full_per_topic="too many console pages open",
    )


class OperatorFeed:
    """The audience of open console pages (see PaymentEvents)."""

    def __init__(self, hub: Hub, detail_url: Callable[[str], str]) -> None:
        self.hub = hub
        self._detail_url = detail_url

    def watching(self, payment_id: str) -> bool:
        return self.hub.watching(TOPIC)

    def changed(self, payment: Payment) -> None:
        item = feed_item(payment, self._detail_url(payment.id))
        self.hub.publish(TOPIC, json.dumps({"type": "payment", "payment": item}))

    async def close(self, *, only: str | None = None, keep: str | None = None) -> None:
        """Close the pages of session `only` (signed out), or all but `keep`'s, or all."""
        await self.hub.close(
            lambda s: only in (None, s.owner) and s.owner != keep, reason=b"signed out"
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
