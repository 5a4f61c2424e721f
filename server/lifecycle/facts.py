"""What paydesk knows about one payment from Stripe events, merged so that order never matters.

Every field merges by a rule that is commutative, associative and idempotent (or, max, union,
"latest by (event created, event id)", monotone dispute status), so merging any order of a flow's
events, with any duplicates, gives the same facts. The status is derived from the facts
(`derive_status`), never stored as the thing to update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import orjson

from .status import RANK, Status

FORMAT_VERSION = 1
T = TypeVar("T")

# A refund's status moves pending → (requires_action →) succeeded, and any of them may end failed
# or canceled; the merge keeps the furthest. Failed and canceled refunds returned no money.
REFUND_STATUS_RANK = {
    "pending": 0,
    "requires_action": 1,
    "succeeded": 2,
    "failed": 3,
    "canceled": 3,
}
UNCOUNTED_REFUNDS = frozenset({"failed", "canceled"})
# Accepted by Stripe, not yet through: the money is on its way to the customer.
UNDER_WAY_REFUNDS = frozenset({"pending", "requires_action"})

# An inquiry (warning_*) may escalate to a chargeback; a closed dispute stays closed, so a late
# charge.dispute.created cannot reopen it. Unknown (newer) statuses rank lowest.
DISPUTE_STATUS_RANK = {
    "warning_needs_response": 0,
    "warning_under_review": 1,
    "needs_response": 2,
    "under_review": 3,
    "warning_closed": 4,
    "won": 4,
    "lost": 4,
}


@dataclass(frozen=True)
class Decline:
    """The latest declined attempt, with Stripe's customer-facing message."""

    message: str | None
    code: str | None
    decline_code: str | None
    created: int  # of the event that reported it: the latest (created, event_id) wins
    event_id: str

    def later(self, other: Decline | None) -> Decline:
        if other is None:
            return self
        return max(self, other, key=lambda d: (d.created, d.event_id))


@dataclass(frozen=True)
class Refund:
    amount: int
    status: str
    created_s: int = 0  # the refund's own `created` (Stripe's seconds): "pending since"
    failure_reason: str | None = None  # Stripe's `failure_reason` once it failed

    @property
    def counted(self) -> bool:
        return self.status not in UNCOUNTED_REFUNDS

    @property
    def under_way(self) -> bool:
        return self.status in UNDER_WAY_REFUNDS

    def merge(self, other: Refund) -> Refund:
        # The furthest status wins, so a late `refund.updated` saying pending cannot undo the
        # succeeded (or failed) one that overtook it.
        status = max(self.status, other.status, key=lambda s: (REFUND_STATUS_RANK.get(s, -1), s))
        reasons = [r for r in (self.failure_reason, other.failure_reason) if r]
        return Refund(
            amount=max(self.amount, other.amount),
            status=status,
            created_s=max(self.created_s, other.created_s),
            failure_reason=max(reasons) if reasons else None,
        )


@dataclass(frozen=True)
class Balance:
    """The charge's balance transaction: what Stripe kept as its fee, and what reached the account."""

    id: str  # txn_...
    fee: int  # minor units of `currency`, the account's settlement currency
    net: int
    currency: str
    available_on_s: int | None = None  # Stripe's seconds: when the net becomes available
    status: str | None = None  # pending | available

    def merge(self, other: Balance) -> Balance:
        return max(self, other, key=lambda b: (b.status == "available", b.id, b.fee, b.net))


@dataclass(frozen=True)
class Dispute:
    status: str
    reason: str | None
    amount: int
    due_by: int | None  # unix seconds: evidence must reach Stripe before this
    created: int  # of the event that reported this status
    event_id: str

    def _order(self) -> tuple[int, int, str]:
        return (DISPUTE_STATUS_RANK.get(self.status, -1), self.created, self.event_id)

    def merge(self, other: Dispute) -> Dispute:
        newest = max(self, other, key=Dispute._order)
        due = [d for d in (self.due_by, other.due_by) if d is not None]
        return Dispute(
            status=newest.status,
            reason=newest.reason,
            amount=max(self.amount, other.amount),
            due_by=max(due) if due else None,
            created=newest.created,
            event_id=newest.event_id,
        )


@dataclass(frozen=True)
class PaymentMethod:
    """How the customer paid, from the charge that went through: a card's brand and last 4
    digits, or a bank debit's last 4 (Stripe's `charge.payment_method_details`)."""

    type: str  # Stripe's payment method type: card, sepa_debit, ...
    brand: str | None  # cards only: visa, mastercard, amex, ...
    last4: str | None
    created: int  # of the event that reported it: the latest (created, event_id) wins
    event_id: str

    def later(self, other: PaymentMethod | None) -> PaymentMethod:
        if other is None:
            return self
        return max(self, other, key=lambda m: (m.created, m.event_id))


@dataclass(frozen=True)
class Facts:
    """One payment's merged facts. Treat the mappings as read-only; `merge` returns a new Facts."""

    seen: frozenset[str] = frozenset()  # handled event types seen at least once
    paid: bool = False
    processing: bool = False  # a bank debit was submitted
    failed: bool = False  # the bank debit failed
    expired: bool = False  # the Checkout Session expired unpaid
    decline: Decline | None = None
    amount_seen: int = 0  # largest payment amount in any event; stands in for the record's amount
    charge_refunded: int = 0  # largest charge.amount_refunded seen
    fully_refunded: bool = False  # a charge said refunded=true
    refunds: Mapping[str, Refund] = field(default_factory=dict)
    disputes: Mapping[str, Dispute] = field(default_factory=dict)
    method: PaymentMethod | None = None  # only charges that went through (or are pending) say
    # From the charge that went through: its balance transaction's id (Stripe fills it in a few
    # seconds after the charge, in `charge.updated`), the figures once fetched, the receipt.
    balance_transaction: str | None = None
    balance: Balance | None = None
    receipt_url: str | None = None

    def merge(self, other: Facts) -> Facts:
        return Facts(
            seen=self.seen | other.seen,
            paid=self.paid or other.paid,
            processing=self.processing or other.processing,
            failed=self.failed or other.failed,
            expired=self.expired or other.expired,
            decline=other.decline.later(self.decline) if other.decline else self.decline,
            amount_seen=max(self.amount_seen, other.amount_seen),
            charge_refunded=max(self.charge_refunded, other.charge_refunded),
            fully_refunded=self.fully_refunded or other.fully_refunded,
            refunds=_merge_by_id(self.refunds, other.refunds, Refund.merge),
            disputes=_merge_by_id(self.disputes, other.disputes, Dispute.merge),
            method=other.method.later(self.method) if other.method else self.method,
            balance_transaction=_larger(self.balance_transaction, other.balance_transaction),
            balance=_either(self.balance, other.balance, Balance.merge),
            receipt_url=_larger(self.receipt_url, other.receipt_url),
        )

    @property
    def refunded_amount(self) -> int:
        """The charge's own cumulative figure, or the refunds we know of, whichever says more."""
        counted = sum(r.amount for r in self.refunds.values() if r.counted)
        return max(self.refunded_by_charge, counted)

    @property
    def refunded_by_charge(self) -> int:
        """The charge's `amount_refunded`, less refunds that failed since: Stripe sends no new
        `charge.refunded` when a refund fails, so the figure it last sent still counts them."""
        returned = sum(r.amount for r in self.refunds.values() if not r.counted)
        return max(0, self.charge_refunded - returned)

    @property
    def refunded_in_full(self) -> bool:
        """A charge said `refunded: true` and no refund has failed since."""
        return self.fully_refunded and all(r.counted for r in self.refunds.values())

    @property
    def refunds_under_way(self) -> dict[str, Refund]:
        return {rid: r for rid, r in self.refunds.items() if r.under_way}

    @property
    def failed_refunds(self) -> dict[str, Refund]:
        return {rid: r for rid, r in self.refunds.items() if r.status == "failed"}

    @property
    def latest_dispute(self) -> Dispute | None:
        return max(self.disputes.values(), key=lambda d: (d.created, d.event_id), default=None)

    def to_json(self) -> str:
        """Compact, key-sorted JSON for the payment's `facts` TEXT column."""
        data: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "seen": sorted(self.seen),
            "paid": self.paid,
            "processing": self.processing,
            "failed": self.failed,
            "expired": self.expired,
            "decline": asdict(self.decline) if self.decline else None,
            "amount_seen": self.amount_seen,
            "charge_refunded": self.charge_refunded,
            "fully_refunded": self.fully_refunded,
            "refunds": {rid: asdict(r) for rid, r in self.refunds.items()},
            "disputes": {did: asdict(d) for did, d in self.disputes.items()},
            "method": asdict(self.method) if self.method else None,
            "balance_transaction": self.balance_transaction,
            "balance": asdict(self.balance) if self.balance else None,
            "receipt_url": self.receipt_url,
        }
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str) -> Facts:
        """Read what `to_json` wrote; "{}" (no event has touched the payment yet) is empty facts."""
        data = orjson.loads(text)
        if data.get("v", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(f"facts written by a newer paydesk (format {data['v']})")
        decline = data.get("decline")
        method = data.get("method")  # absent in facts stored before it was recorded
        balance = data.get("balance")
        return cls(
            seen=frozenset(data.get("seen", ())),
            paid=data.get("paid", False),
            processing=data.get("processing", False),
            failed=data.get("failed", False),
            expired=data.get("expired", False),
            decline=Decline(**decline) if decline else None,
            amount_seen=data.get("amount_seen", 0),
            charge_refunded=data.get("charge_refunded", 0),
            fully_refunded=data.get("fully_refunded", False),
            refunds={rid: Refund(**r) for rid, r in data.get("refunds", {}).items()},
            disputes={did: Dispute(**d) for did, d in data.get("disputes", {}).items()},
            method=PaymentMethod(**method) if method else None,
            balance_transaction=data.get("balance_transaction"),
            balance=Balance(**balance) if balance else None,
            receipt_url=data.get("receipt_url"),
        )


def paid_amount(facts: Facts, amount: int) -> int:
    """What refunds are measured against: the payment record's amount, else what events said."""
    return amount if amount > 0 else facts.amount_seen


def derive_status(facts: Facts, amount: int) -> Status:
    """The highest-ranked status that any fact supports (pending when nothing is known)."""
    supported = [Status.PENDING]
    if facts.decline:
        supported.append(Status.DECLINED)
    if facts.processing:
        supported.append(Status.PROCESSING)
    if facts.expired:
        supported.append(Status.EXPIRED)
    if facts.failed:
        supported.append(Status.FAILED)
    if facts.paid:
        supported.append(Status.SUCCEEDED)
    refunded = facts.refunded_amount
    if refunded > 0:
        supported.append(Status.PARTIALLY_REFUNDED)
    if facts.refunded_in_full or 0 < paid_amount(facts, amount) <= refunded:
        supported.append(Status.REFUNDED)
    if facts.disputes:
        supported.append(Status.DISPUTED)
    return max(supported, key=RANK.__getitem__)


def _either(left: T | None, right: T | None, merge: Callable[[T, T], T]) -> T | None:
    """Whichever is known; both merged when both are."""
    if left is None or right is None:
        return left if right is None else right
    return merge(left, right)


def _larger(left: str | None, right: str | None) -> str | None:
    """Either one when only one is known; the same answer in any order when both are."""
    return max(left, right) if left and right else left or right


def _merge_by_id(
    left: Mapping[str, T], right: Mapping[str, T], merge: Callable[[T, T], T]
) -> dict[str, T]:
    merged = dict(left)
    for key, value in right.items():
        merged[key] = merge(merged[key], value) if key in merged else value
    return merged
