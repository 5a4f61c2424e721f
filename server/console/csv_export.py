"""The payment list as CSV, streamed page by page, with spreadsheet formula injection defused."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from ..clock import utc_iso
from ..db import Database
from ..lifecycle import Facts
from ..money import format_major
from ..payments import Payment
from .queries import Cursor, PaymentFilter, list_payments

BATCH = 500
COLUMNS = (
    "id", "created_at", "updated_at", "status", "product_id", "product_name", "quantity", "amount",
    "amount_refunded", "currency", "stripe_fee", "net", "fee_currency", "customer_name",
    "customer_email", "checkout_session_id", "payment_intent_id",
)  # fmt: skip
# A cell starting with one of these is read as a formula by Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as text, prefixed with ' when a spreadsheet would run it as a formula (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_row(payment: Payment) -> list[str]:
    refunded = min(payment.amount, Facts.from_json(payment.facts).refunded_amount)
    values: list[object] = [
        payment.id, utc_iso(payment.created_at), utc_iso(payment.updated_at), payment.status,
        payment.product_id, payment.product_name, payment.quantity,
        format_major(payment.amount, payment.currency), format_major(refunded, payment.currency),
        payment.currency, *_fee_cells(payment), payment.customer_name, payment.customer_email,
        payment.checkout_session_id, payment.payment_intent_id,
    ]  # fmt: skip
    return [safe_cell(value) for value in values]


def _fee_cells(payment: Payment) -> tuple[str, str, str]:
    """Stripe's fee and what is left, in the account's settlement currency; empty until known."""
    if payment.fee is None or payment.net is None or payment.fee_currency is None:
        return "", "", ""
    currency = payment.fee_currency
    return format_major(payment.fee, currency), format_major(payment.net, currency), currency


async def csv_chunks(db: Database, f: PaymentFilter) -> AsyncIterator[bytes]:
    """The header, then one chunk per batch of payments, newest first, until none are left."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode()  # the BOM makes Excel read UTF-8
    after: Cursor | None = None
    while True:
        page = await list_payments(db, f, after, BATCH)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows(csv_row(payment) for payment in page.payments)
        if page.payments:
            yield buffer.getvalue().encode()
        if page.next_cursor is None:
            return
        after = page.next_cursor
