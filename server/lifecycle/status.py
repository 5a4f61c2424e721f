"""Payment statuses and their ranks: a payment's status only ever moves to a higher rank."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Status(StrEnum):
    """Where a payment stands, as stored in `payments.status` and shown on the status page."""

    PENDING = "pending"  # session open, waiting for the customer (set by checkout)
    NOT_STARTED = "not_started"  # Stripe could not create the session (set by checkout only)
    DECLINED = "declined"  # an attempt was declined; the session is open, the customer can retry
    PROCESSING = "processing"  # a bank debit was submitted; the result comes days later
    EXPIRED = "expired"  # the session expired unpaid
    FAILED = "failed"  # the bank debit failed (final)
    SUCCEEDED = "succeeded"  # paid
    PARTIALLY_REFUNDED = "partially_refunded"  # paid, part of it refunded
    REFUNDED = "refunded"  # paid, all of it refunded
    DISPUTED = "disputed"  # the customer's bank opened a dispute (its outcome is kept in the facts)


# The status derived from a payment's facts is the highest-ranked status any fact supports, so
# learning a fact can only raise the rank. not_started shares pending's rank: events for a payment
# whose session could not be created are treated as if it were pending.
RANK: Mapping[Status, int] = MappingProxyType(
    {
        Status.PENDING: 0,
        Status.NOT_STARTED: 0,
        Status.DECLINED: 1,
        Status.PROCESSING: 2,
        Status.EXPIRED: 3,
        Status.FAILED: 4,
        Status.SUCCEEDED: 5,
        Status.PARTIALLY_REFUNDED: 6,
        Status.REFUNDED: 7,
        Status.DISPUTED: 8,
    }
)

# The customer's status page can stop listening for updates once a payment is in one of these.
# (Refunds and disputes can still follow a success, but nothing the customer waits for.)
SETTLED = frozenset(RANK) - {Status.PENDING, Status.NOT_STARTED, Status.DECLINED, Status.PROCESSING}
