"""Finding payments: the list's filters and search, parsed and validated, as keyset-paged SQL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..db import Database
from ..lifecycle import Status
from ..payments import Payment

MAX_QUERY = 200
PRODUCT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
STRIPE_LIKE_ID = re.compile(r"^[A-Za-z]{2,5}_[A-Za-z0-9_-]{4,}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PAYMENT_ID_PREFIX = re.compile(r"^pay_[A-Za-z0-9_-]*$")
# "pay_" and 4 more: the customer's 12-character reference, or any start of it this long.
MIN_REFERENCE = 8
CURSOR = re.compile(r"^(\d{1,16})\.(pay_[A-Za-z0-9_-]{1,64})$")
END_OF_TIME = 2**63 - 1  # the first page's keyset bound: every payment is before it


class FilterError(ValueError):
    """A filter value that makes no sense; `field` is the query parameter to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the (created_at, id) of its last payment."""

    created_at: int
    id: str

    def encode(self) -> str:
        return f"{self.created_at}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        match = CURSOR.match(text)
        if not match:
            raise FilterError(
                "cursor", "That page link is broken; start again from the first page."
            )
        return cls(int(match.group(1)), match.group(2))


@dataclass(frozen=True)
class PaymentFilter:
    q: str = ""
    status: Status | None = None
    product: str | None = None
    date_from: date | None = None  # UTC days, both inclusive
    date_to: date | None = None

    def as_query(self) -> dict[str, str]:
        """The filter as URL query parameters, for links to other pages and to the CSV."""
        pairs = {
            "q": self.q,
            "status": str(self.status) if self.status else "",
            "product": self.product or "",
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }
        return {key: value for key, value in pairs.items() if value}


def parse_filter(query: Mapping[str, str]) -> PaymentFilter:
    """Read the list's query parameters; FilterError names the first one that makes no sense."""
    q = query.get("q", "").strip()
    if len(q) > MAX_QUERY:
        raise FilterError("q", f"Search for at most {MAX_QUERY} characters.")
    if PAYMENT_ID_PREFIX.match(q) and len(q) < MIN_REFERENCE:
        raise FilterError(
            "q",
            f"Type at least {MIN_REFERENCE} characters of the payment reference, like pay_Ab3d.",
        )
    status_text = query.get("status", "").strip()
    try:
        status = Status(status_text) if status_text else None
    except ValueError:
        raise FilterError("status", f"There is no status called {status_text!r}.") from None
    product = query.get("product", "").strip() or None
    if product is not None and not PRODUCT_ID.match(product):
        raise FilterError("product", "A product id has only lowercase letters, digits and dashes.")
    date_from = _day(query.get("from", ""), "from")
    date_to = _day(query.get("to", ""), "to")
    if date_from and date_to and date_from > date_to:
        raise FilterError("to", "The end date is before the start date.")
    return PaymentFilter(q=q, status=status, product=product, date_from=date_from, date_to=date_to)


def _day(text: str, field: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FilterError(
            field, f"Enter the date as YYYY-MM-DD, like 2024-05-31 (got {text[:20]!r})."
        ) from None


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def list_sql(f: PaymentFilter, after: Cursor | None, limit: int) -> tuple[str, list[Any]]:
    """The page's SQL. Every shape is served by an index ending in (created_at, id), so the
    database walks the index backwards from the cursor and stops after `limit` rows."""
    where, params = _search(f.q)
    if f.status is not None:
        where.append("status = ?")
        params.append(str(f.status))
    if f.product is not None:
        where.append("product_id = ?")
        params.append(f.product)
    if f.date_from is not None:
        where.append("created_at >= ?")
        params.append(day_start_ms(f.date_from))
    if f.date_to is not None:
        where.append("created_at < ?")
        params.append(day_start_ms(f.date_to + timedelta(days=1)))
    cursor = after or Cursor(END_OF_TIME, "")
    where.append("(created_at, id) < (?, ?)")
    params += [cursor.created_at, cursor.id]
    sql = (
        f"SELECT * FROM payments WHERE {' AND '.join(where)}"  # noqa: S608 - fixed fragments, values bound
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    return sql, [*params, limit]


def _search(q: str) -> tuple[list[str], list[Any]]:
    """Search by what the text looks like: an id of ours or Stripe's, an email, else words."""
    if not q:
        return [], []
    if STRIPE_LIKE_ID.match(q):
        prefix = q.split("_", 1)[0].lower()
        if prefix == "pay":  # the whole id or the start of it, such as the customer's reference
            return _id_prefix(q)
        if prefix == "cs":
            return ["checkout_session_id = ?"], [q]
        if prefix == "pi":
            return ["payment_intent_id = ?"], [q]
        if prefix in ("re", "pyr", "dp", "du"):  # refund and dispute ids are keys in the facts
            return ["instr(facts, ?) > 0"], [f'"{q}"']
        if prefix == "evt":
            return ["id IN (SELECT payment_id FROM stripe_events WHERE id = ?)"], [q]
        # A charge id (or another object's) is only in the stored events: slower, but exact.
        return [
            "id IN (SELECT payment_id FROM stripe_events WHERE payment_id IS NOT NULL AND instr(payload, ?) > 0)"
        ], [f'"{q}"']
    if EMAIL.match(q):  # a whole address: exact, case-insensitive, on an index
        return ["customer_email = ? COLLATE NOCASE"], [q]
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
    pattern = pattern.lower()
    return [
        "(lower(customer_name) LIKE ? ESCAPE '\\' OR lower(customer_email) LIKE ? ESCAPE '\\')"
    ], [
        pattern,
        pattern,
    ]


def _id_prefix(prefix: str) -> tuple[list[str], list[Any]]:
    """Ids starting with `prefix`, as a range on the primary key: every id in it starts so.

    The upper bound is the prefix with its last character raised by one, the first text after
    every id that starts with the prefix. From 8 characters on, the range holds a handful of rows.
    """
    after_all = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return ["id >= ? AND id < ?"], [prefix, after_all]


@dataclass(frozen=True)
class PaymentPage:
    payments: list[Payment]
    next_cursor: Cursor | None


async def list_payments(
    db: Database, f: PaymentFilter, after: Cursor | None, limit: int
) -> PaymentPage:
    sql, params = list_sql(f, after, limit + 1)  # one more tells whether a next page exists
    rows = await db.fetch_all(sql, params)
    payments = [Payment.from_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    last = payments[-1] if payments and more else None
    return PaymentPage(payments, Cursor(last.created_at, last.id) if last else None)
