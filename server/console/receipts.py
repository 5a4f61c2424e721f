"""Resending a receipt: another outbox row, which the mail sender delivers like any other."""

from __future__ import annotations

import sqlite3

from ..db import Database
from ..lifecycle import Facts, MailKind
from ..mail.outbox import RESEND_PREFIX  # the mail work's keys: receipt:resend:1, :2, ...
from ..payments import now_ms


class ResendError(Exception):
    """The receipt cannot be sent again now; the message says why."""


async def queue_receipt_resend(db: Database, payment_id: str) -> str:
    """Queue another copy of the payment's receipt; returns the outbox row's dedupe key."""

    def work(conn: sqlite3.Connection) -> str:
        payment = conn.execute("SELECT facts FROM payments WHERE id = ?", (payment_id,)).fetchone()
        if payment is None or not Facts.from_json(payment["facts"]).paid:
            raise ResendError("A receipt is only sent for a paid payment.")
        row = conn.execute(
            "SELECT count(*), sum(status = 'pending') FROM outbox WHERE payment_id = ? AND dedupe_key LIKE ?",
            (payment_id, RESEND_PREFIX + "%"),
        ).fetchone()
        resends, waiting = (row[0], row[1] or 0) if row else (0, 0)
        if waiting:
            raise ResendError("A copy of the receipt is already waiting to be sent.")
        key = f"{RESEND_PREFIX}{resends + 1}"
        stamp = now_ms()
        conn.execute(
            "INSERT INTO outbox (payment_id, kind, dedupe_key, urgent, next_attempt_at, created_at)"
            " VALUES (?, ?, ?, 0, ?, ?)",
            (payment_id, str(MailKind.RECEIPT), key, stamp, stamp),
        )
        return key

    return await db.write(work)
