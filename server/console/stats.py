"""Dashboard statistics: revenue, counts and rates per period, and the disputes awaiting an answer.

The definitions (docs/console.md says the same in words):
- a payment is *paid* when its status is succeeded, partially_refunded, refunded or disputed;
- it counts on the UTC day it was created (checkout started); periods end now and start at UTC
  midnight: today, today and the 6 days before, today and the 29 days before;
- gross = the paid payments' amounts; refunded = what was refunded of them (never more than the
  amount); withheld = the amount of disputes that are open (needs_response, under_review) or
  lost, never more than what is left after refunds; revenue (net) = gross - refunded - withheld;
- Stripe's fees = the fees of the paid payments' balance transactions, in the currency Stripe
  settled them in (Stripe keeps its fee when a payment is refunded); revenue after fees =
  revenue - fees, shown where the fees are in the payments' currency; a payment whose fee is
  not known yet (fetched a few seconds after the charge) counts as fee unknown;
- success rate = paid / (paid + failed); *failed* is a payment the customer tried and could not
  make: declined (also when the customer then left and the checkout expired) or a bank debit that
  failed. Checkouts left without a try (expired, not_started) and payments still pending or
  processing are not failures and are not counted; refund rate = paid payments with any refund / paid;
- average = gross / number of paid payments, per currency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ..lifecycle import Facts, Status

PAID = frozenset({Status.SUCCEEDED, Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED})
FAILED = frozenset({Status.DECLINED, Status.FAILED})  # and expired after a declined attempt
WITHHELD_DISPUTES = frozenset({"needs_response", "under_review", "lost"})
CLOSED_DISPUTES = frozenset({"won", "lost", "warning_closed"})
PERIODS: tuple[tuple[str, int], ...] = (("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30))
CHART_DAYS = 30


def utc_day(stamp_ms: int) -> date:
    return datetime.fromtimestamp(stamp_ms / 1000, UTC).date()


@dataclass(frozen=True)
class PaidPayment:
    created_at: int  # unix milliseconds
    amount: int
    currency: str
    facts: Facts

    @property
    def refunded(self) -> int:
        return min(self.amount, self.facts.refunded_amount)

    @property
    def withheld(self) -> int:
        disputed = sum(
            d.amount for d in self.facts.disputes.values() if d.status in WITHHELD_DISPUTES
        )
        return min(self.amount - self.refunded, disputed)

    @property
    def net(self) -> int:
        return self.amount - self.refunded - self.withheld

    @property
    def fee(self) -> int | None:
        """Stripe's fee, when known and in the payment's own currency."""
        balance = self.facts.balance
        return balance.fee if balance and balance.currency == self.currency.lower() else None


@dataclass
class Money:
    """Totals in one currency, in minor units."""

    count: int = 0
    gross: int = 0
    refunded: int = 0
    withheld: int = 0
    fees: int = 0  # Stripe's fees of the payments whose fee is known, in this currency
    fee_unknown: int = 0  # payments whose fee is not known (yet), or settled in another currency

    @property
    def net(self) -> int:
        return self.gross - self.refunded - self.withheld

    @property
    def after_fees(self) -> int:
        """Revenue less Stripe's fees (those known)."""
        return self.net - self.fees

    @property
    def average(self) -> int:
        return round(self.gross / self.count) if self.count else 0

    def add(self, payment: PaidPayment) -> None:
        self.count += 1
        self.gross += payment.amount
        self.refunded += payment.refunded
        self.withheld += payment.withheld
        fee = payment.fee
        if fee is None:
            self.fee_unknown += 1
        else:
            self.fees += fee


@dataclass(frozen=True)
class Period:
    label: str
    since: date
    by_currency: Mapping[str, Money]
    paid: int
    failed: int
    refunded_payments: int

    @property
    def success_rate(self) -> float | None:
        tried = self.paid + self.failed
        return self.paid / tried if tried else None

    @property
    def refund_rate(self) -> float | None:
        return self.refunded_payments / self.paid if self.paid else None


@dataclass(frozen=True)
class Dashboard:
    periods: list[Period]
    daily: Mapping[str, list[tuple[date, int]]]  # per currency: (day, net) for the chart's days
    today: date
    currencies: list[str] = field(default_factory=list)  # most gross first


def summarize(paid: Sequence[PaidPayment], failed_counts: Sequence[int], today: date) -> Dashboard:
    """Figures for each period; `failed_counts[i]` is the failed payments since period i began."""
    periods = []
    for (label, days), failed in zip(PERIODS, failed_counts, strict=True):
        since = today - timedelta(days=days - 1)
        chosen = [p for p in paid if utc_day(p.created_at) >= since]
        totals: dict[str, Money] = {}
        for payment in chosen:
            totals.setdefault(payment.currency, Money()).add(payment)
        periods.append(
            Period(
                label=label,
                since=since,
                by_currency=dict(sorted(totals.items(), key=lambda kv: -kv[1].gross)),
                paid=len(chosen),
                failed=failed,
                refunded_payments=sum(1 for p in chosen if p.refunded > 0),
            )
        )
    first = today - timedelta(days=CHART_DAYS - 1)
    chart_days = [first + timedelta(days=n) for n in range(CHART_DAYS)]
    daily: dict[str, dict[date, int]] = {}
    for payment in paid:
        day = utc_day(payment.created_at)
        if day >= first:
            per_day = daily.setdefault(payment.currency, dict.fromkeys(chart_days, 0))
            per_day[day] = per_day.get(day, 0) + payment.net
    month = periods[-1].by_currency
    currencies = sorted(daily, key=lambda c: -(month[c].gross if c in month else 0))
    return Dashboard(
        periods=periods,
        daily={c: sorted(daily[c].items()) for c in currencies},
        today=today,
        currencies=currencies,
    )


@dataclass(frozen=True)
class OpenDispute:
    payment_id: str
    customer_name: str
    currency: str
    dispute_id: str
    status: str
    reason: str | None
    amount: int
    due_by: int | None  # unix seconds

    def days_left(self, now_s: float) -> float | None:
        return None if self.due_by is None else (self.due_by - now_s) / 86400


def open_disputes(rows: Sequence[tuple[str, str, str, Facts]]) -> list[OpenDispute]:
    """Disputes not yet decided, soonest deadline first; rows are (id, name, currency, facts)."""
    found = [
        OpenDispute(pid, name, currency, did, d.status, d.reason, d.amount, d.due_by)
        for pid, name, currency, facts in rows
        for did, d in facts.disputes.items()
        if d.status not in CLOSED_DISPUTES
    ]
    return sorted(found, key=lambda d: (d.due_by is None, d.due_by or 0, d.payment_id))
