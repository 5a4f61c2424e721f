"""Customer status pages live: which payment each open page watches, and the snapshot it is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..payments import Payment
from .fanout import Hub


class StatusPages:
    """The audience of customer status pages: each committed change goes to the payment's pages."""

    def __init__(self, hub: Hub, snapshot: Callable[[Payment], dict[str, Any]]) -> None:
        self.hub = hub
        self.snapshot = snapshot  # what a customer may see of a payment (status_view)

    def watching(self, payment_id: str) -> bool:
        return self.hub.watching(payment_id)

    def changed(self, payment: Payment) -> None:
        self.hub.publish(payment.id, self.frame(payment), payment.version)

    def frame(self, payment: Payment) -> str:
        """The JSON frame a status page reads: the payment's snapshot at its version."""
        body = {"type": "payment", "version": payment.version, "payment": self.snapshot(payment)}
        return json.dumps(body)
