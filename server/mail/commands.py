"""The mail commands behind `run.py outbox` and `run.py resend PAYMENT_ID`: they print, and return an exit code."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ..app import MIGRATIONS_FOLDER
from ..config import Config
from ..db import Database
from ..lifecycle import Facts
from ..payments import get_payment
from . import outbox
from .outbox import PENDING, OutboxRow
from .sender import DEFAULT_IDLE

HEADINGS = ("ID", "PAYMENT", "KIND", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR")
ERROR_WIDTH = 60  # the last error column is cut to this; the full text is in the database


async def show_outbox(config: Config) -> int:
    """List pending and failed mail: what is waiting, how often it was tried, and why it failed."""
    async with _database(config) as db:
        if db is None:
            return 1
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


async def resend_receipt(config: Config, payment_id: str) -> int:
    """Queue another copy of a paid payment's receipt: the one way to send a receipt twice."""
    async with _database(config) as db:
        if db is None:
            return 1
        payment = await get_payment(db, payment_id)
        if payment is None:
            print(f"resend: there is no payment {payment_id}", file=sys.stderr)
            return 1
        if not Facts.from_json(payment.facts).paid:
            print(
                f"resend: payment {payment_id} is {payment.status.replace('_', ' ')}, not paid;"
                " only a paid payment has a receipt to send",
                file=sys.stderr,
            )
            return 1
        outbox_id, key = await outbox.queue_resend(db, payment_id)
    print(
        f"Queued a copy of the receipt for {payment_id} to {payment.customer_email}"
        f" (outbox {outbox_id}, {key}). A running paydesk sends it within {DEFAULT_IDLE:.0f} s."
    )
    return 0


def no_database(path: Path) -> str:
    """Why a command that reads or changes data refuses to run: only migrate and the server
    create the database, so a command never works on an empty one beside the server's."""
    return (
        f"no database at {path}: start paydesk once or run `python run.py migrate`,"
        " or set DATABASE_URL"
    )


@asynccontextmanager
async def _database(config: Config) -> AsyncIterator[Database | None]:
    if not config.database_path.is_file():
        print(f"paydesk: {no_database(config.database_path)}", file=sys.stderr)
        yield None
        return
    db = await Database.open(config.database_path)
    try:
        await db.migrate(MIGRATIONS_FOLDER)  # the mail columns come with a migration
        yield db
    finally:
        await db.close()


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
        _when(row.next_attempt_at) if row.status == PENDING else "-",
        error or "-",
    )


def _when(stamp_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp_ms / 1000))
