"""The mail commands behind `paydesk outbox` and `paydesk resend PAYMENT_ID [--kind KIND]`: they print, and return an exit code."""

from __future__ import annotations

import sys

from ..clock import utc_second
from ..config import Config
from ..database_file import migrated_database
from ..lifecycle import MailKind
from ..payments import get_payment
from . import outbox
from .outbox import PENDING, OutboxRow
from .sender import DEFAULT_IDLE

HEADINGS = ("ID", "PAYMENT", "KIND", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR")
CUSTOMER_KINDS = frozenset(
    {
        MailKind.RECEIPT,
        MailKind.PROCESSING_NOTICE,
        MailKind.ASYNC_FAILED_CUSTOMER,
        MailKind.REFUND_CONFIRMATION,
    }
)
ERROR_WIDTH = 60  # the last error column is cut to this; the full text is in the database


async def show_outbox(config: Config) -> int:
    """List pending and failed mail: what is waiting, how often it was tried, and why it failed."""
    async with migrated_database(config.database) as db:
        rows = await outbox.undelivered(db)
    if not rows:
        print("No pending or failed mail: everything queued has been sent.")
        return 0
    pending = sum(1 for row in rows if row.status == PENDING)
    print(f"{pending} pending, {len(rows) - pending} failed\n")
    table: list[tuple[str, ...]] = [HEADINGS]
    table += [_columns(row) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip())
    return 0


async def resend_mail(config: Config, payment_id: str, kind: str = MailKind.RECEIPT) -> int:
    """Queue another copy of a payment's mail of `kind`: the one way to send a mail twice."""
    async with migrated_database(config.database) as db:
        try:
            outbox_id, key = await outbox.queue_copy(db, payment_id, outbox.mail_kind(kind))
        except outbox.ResendRefused as exc:
            print(f"resend: {exc}", file=sys.stderr)
            return 1
        payment = await get_payment(db, payment_id)
    assert payment is not None  # a copy was queued for it
    name = outbox.COPY_NAMES[MailKind(kind)]
    to = f" to {payment.customer_email}" if kind in CUSTOMER_KINDS else ""
    print(
        f"Queued a copy of {name} for {payment_id}{to}"
        f" (outbox {outbox_id}, {key}). A running paydesk sends it within {DEFAULT_IDLE:.0f} s."
    )
    return 0


def _columns(row: OutboxRow) -> tuple[str, ...]:
    error = " ".join((row.last_error or "").split())
    if len(error) > ERROR_WIDTH:
        error = error[: ERROR_WIDTH - 1] + "…"
    return (
        str(row.id),
        row.payment_id,
        row.dedupe_key,  # the kind, and for refunds, disputes and resends which one
        row.status,
        str(row.attempts),
        utc_second(row.next_attempt_at) if row.status == PENDING else "-",
        error or "-",
    )
