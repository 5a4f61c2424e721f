"""The outbox table as the mail sender and the commands use it: due rows, outcomes, resends."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from ..clock import now_ms
from ..db import Connection, Database, Row
from ..lifecycle import Facts, MailIntent, MailKind

PENDING, SENT, FAILED = "pending", "sent", "failed"
# How long a claimed row stays with its sender before another may take it: longer than a batch
# takes to send (20 messages, each within SMTP_TIMEOUT), so only a sender that died loses it.
CLAIM_LEASE_MS = 5 * 60 * 1000
NEVER_MS = 2**62  # later than any time a row is due


@dataclass(frozen=True)
class Rendered:
    """A message as first rendered; stored, so every attempt sends exactly these bytes."""

    message_id: str
    subject: str
    recipients: tuple[str, ...]  # envelope addresses
    message: str  # the whole RFC 5322 message: ASCII with CRLF line ends


@dataclass(frozen=True)
class OutboxRow:
    id: int
    payment_id: str
    kind: str
    dedupe_key: str
    urgent: bool
    status: str
    attempts: int
    next_attempt_at: int  # unix milliseconds
    last_error: str | None
    created_at: int
    sent_at: int | None
    last_attempt_at: int | None
    rendered: Rendered | None  # None until the first delivery attempt renders it

    @classmethod
    def from_row(cls, row: Row) -> OutboxRow:
        rendered = None
        if row["message"] is not None:
            rendered = Rendered(
                message_id=row["message_id"],
                subject=row["subject"],
                recipients=tuple(json.loads(row["recipients"])),
                message=row["message"],
            )
        return cls(
            id=row["id"],
            payment_id=row["payment_id"],
            kind=row["kind"],
            dedupe_key=row["dedupe_key"],
            urgent=bool(row["urgent"]),
            status=row["status"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            sent_at=row["sent_at"],
            last_attempt_at=row["last_attempt_at"],
            rendered=rendered,
        )


async def due(db: Database, now: int, limit: int) -> list[OutboxRow]:
    """Pending rows whose time has come, urgent first, then oldest first."""
    rows = await db.fetch_all(
        "SELECT * FROM outbox WHERE status = ? AND next_attempt_at <= ?"
        " ORDER BY urgent DESC, next_attempt_at, id LIMIT ?",
        (PENDING, now, limit),
    )
    return [OutboxRow.from_row(row) for row in rows]


async def claim_due(
    db: Database, now: int, limit: int, lease_ms: int = CLAIM_LEASE_MS
) -> list[OutboxRow]:
    """Due rows taken by this sender: due again for others only `lease_ms` later, or when released.

    Several paydesk processes share one PostgreSQL outbox: each claims with SKIP LOCKED, so two
    never take the same row, and a row whose sender died is sent again once the lease ran out
    (with the same stored Message-ID, so a receiver can tell the copy). A read comes first: with
    nothing due, as after most commits, no write is made. On a database only this process uses
    (SQLite), the read is the claim.
    """
    rows = await due(db, now, limit)
    if not rows or not db.shared:
        return rows

    def work(conn: Connection) -> list[OutboxRow]:
        rows = conn.execute(
            "SELECT * FROM outbox WHERE status = ? AND next_attempt_at <= ?"  # noqa: S608 - fixed clause
            " ORDER BY urgent DESC, next_attempt_at, id LIMIT ?" + db.skip_locked,
            (PENDING, now, limit),
        ).fetchall()
        if rows:
            ids = [row["id"] for row in rows]
            conn.execute(
                f"UPDATE outbox SET next_attempt_at = ? WHERE id IN ({', '.join('?' for _ in ids)})",  # noqa: S608 - placeholders only
                (now + lease_ms, *ids),
            )
        return [OutboxRow.from_row(row) for row in rows]

    return await db.write(work)


async def release(db: Database, outbox_ids: Iterable[int], now: int) -> None:
    """Claimed rows their sender did not settle (cut off, stopping): due again at once."""
    ids = sorted(outbox_ids)
    if ids and db.shared:  # unshared, nothing was leased
        await _update(
            db,
            f"UPDATE outbox SET next_attempt_at = ? WHERE status = ? AND id IN ({', '.join('?' for _ in ids)})",  # noqa: S608 - placeholders only
            (now, PENDING, *ids),
        )


async def postpone(db: Database, outbox_id: int, due_at: int, *, if_due_by: int = NEVER_MS) -> None:
    """A row not rendered yet, due at `due_at` instead: no attempt is counted, nothing else changes.

    `if_due_by`: only while it is due no later than that (a row claimed by a sender is due later,
    at the end of its lease, and stays with that sender).
    """
    await _update(
        db,
        "UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = ? AND message IS NULL"
        " AND next_attempt_at <= ?",
        (due_at, outbox_id, PENDING, if_due_by),
    )


async def next_due_at(db: Database) -> int | None:
    """When the earliest pending row is due (unix ms), or None when nothing is pending."""
    row = await db.fetch_one("SELECT min(next_attempt_at) FROM outbox WHERE status = ?", (PENDING,))
    return None if row is None or row[0] is None else int(row[0])


async def store_rendered(db: Database, outbox_id: int, rendered: Rendered) -> Rendered:
    """Keep the first rendering; if one is stored already, that one wins and is returned."""

    def work(conn: Connection) -> Rendered:
        conn.execute(
            "UPDATE outbox SET message_id = ?, subject = ?, recipients = ?, message = ?"
            " WHERE id = ? AND message IS NULL",
            (
                rendered.message_id,
                rendered.subject,
                json.dumps(list(rendered.recipients)),
                rendered.message,
                outbox_id,
            ),
        )
        row = conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        assert row is not None  # outbox rows are never deleted
        stored = OutboxRow.from_row(row).rendered
        assert stored is not None
        return stored

    return await db.write(work)


async def mark_sent(db: Database, outbox_id: int, note: str | None = None) -> None:
    """Delivered; `note` keeps a partial refusal (some operator addresses refused) visible."""
    stamp = now_ms()
    await _update(
        db,
        "UPDATE outbox SET status = ?, sent_at = ?, last_attempt_at = ?, attempts = attempts + 1,"
        " last_error = ?, next_attempt_at = ? WHERE id = ? AND status = ?",
        (SENT, stamp, stamp, note, stamp, outbox_id, PENDING),
    )


async def mark_retry(db: Database, outbox_id: int, error: str, next_attempt_at: int) -> None:
    await _update(
        db,
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?,"
        " next_attempt_at = ? WHERE id = ? AND status = ?",
        (error, now_ms(), next_attempt_at, outbox_id, PENDING),
    )


async def mark_failed(db: Database, outbox_id: int, error: str, *, attempted: bool = True) -> None:
    """Given up on: a permanent refusal, a message that cannot be built, or retries ran out."""
    stamp = now_ms()
    await _update(
        db,
        "UPDATE outbox SET status = ?, attempts = attempts + ?, last_error = ?, last_attempt_at = ?,"
        " next_attempt_at = ? WHERE id = ? AND status = ?",
        (FAILED, int(attempted), error, stamp, stamp, outbox_id, PENDING),
    )


async def undelivered(db: Database) -> list[OutboxRow]:
    """Pending and failed rows, oldest first: what the outbox command lists."""
    rows = await db.fetch_all(
        "SELECT * FROM outbox WHERE status IN (?, ?) ORDER BY created_at, id", (PENDING, FAILED)
    )
    return [OutboxRow.from_row(row) for row in rows]


def enqueue(conn: Connection, payment_id: str, mails: Iterable[MailIntent]) -> None:
    """Queue a transition's mail in the caller's transaction; a dedupe key is queued once, ever."""
    stamp = now_ms()
    conn.executemany(
        "INSERT INTO outbox (payment_id, kind, dedupe_key, urgent, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(payment_id, str(m.kind), m.dedupe_key, int(m.urgent), stamp, stamp) for m in mails],
    )


def queue_webhook_alarm(conn: Connection, payment_id: str, incident: str, cause: str) -> bool:
    """Queue the operator's webhook alarm, once per incident whichever payment showed it.

    The key is `webhook_alarm:<incident>:<cause>`; the outbox's own uniqueness is per payment,
    so another payment showing the same incident is turned away here. True when queued.
    """
    kind = MailKind.WEBHOOK_ALARM
    prefix = f"{kind}:{incident}:"
    if conn.execute(
        "SELECT 1 FROM outbox WHERE kind = ? AND substr(dedupe_key, 1, ?) = ?",
        (str(kind), len(prefix), prefix),
    ).fetchone():
        return False
    enqueue(conn, payment_id, [MailIntent(kind, prefix + cause)])
    return True


class ResendRefused(Exception):
    """The mail cannot be sent again now; the message says why, for a person."""


# What a copy is called in the answers to the operator.
COPY_NAMES = {
    MailKind.RECEIPT: "the receipt",
    MailKind.OPERATOR_NEW_PAYMENT: "the new payment notice",
    MailKind.PROCESSING_NOTICE: "the processing notice",
    MailKind.ASYNC_FAILED_CUSTOMER: "the failed bank payment notice",
    MailKind.ASYNC_FAILED_OPERATOR: "the failed bank payment notice to you",
    MailKind.REFUND_CONFIRMATION: "the refund confirmation",
    MailKind.REFUND_FAILED_OPERATOR: "the failed refund notice to you",
    MailKind.DISPUTE_ALERT: "the dispute alert",
    MailKind.DISPUTE_CLOSED: "the dispute outcome",
    MailKind.WEBHOOK_ALARM: "the webhook alarm",
}
RESEND_MARK = "resend"  # in every copy's key, never in a key a transition queues


def mail_kind(text: str) -> MailKind:
    """The kind of mail `text` names, or ResendRefused listing the kinds there are."""
    try:
        return MailKind(text)
    except ValueError:
        kinds = ", ".join(kind.value for kind in MailKind)
        raise ResendRefused(
            f"There is no kind of mail called {text[:40]!r}; use one of: {kinds}."
        ) from None


def copy_key(original_key: str, number: int) -> str:
    """The key of the `number`th copy of the mail queued as `original_key`.

    A refund or dispute mail finds what it is about after the key's first colon
    (`refund_confirmation:re_...`), so a copy keeps that part last.
    """
    kind, _, about = original_key.partition(":")
    if about:
        return f"{kind}.{RESEND_MARK}.{number}:{about}"
    return f"{kind}:{RESEND_MARK}:{number}"


async def queue_copy(db: Database, payment_id: str, kind: MailKind) -> tuple[int, str]:
    """Queue another copy of a payment's mail of `kind`; returns (outbox id, dedupe key).

    The one rule for another copy, from the console and the command line alike: only a kind
    of mail that was queued for this payment before (the latest one, for a payment with several
    refunds or disputes), and one copy of a kind waits at a time, so impatient clicks send one.
    """
    name = COPY_NAMES[kind]

    def work(conn: Connection) -> tuple[int, str]:
        payment = conn.execute("SELECT facts FROM payments WHERE id = ?", (payment_id,)).fetchone()
        if payment is None:
            raise ResendRefused(f"There is no payment {payment_id}.")
        if kind is MailKind.RECEIPT and not Facts.from_json(payment["facts"]).paid:
            raise ResendRefused("A receipt is only sent for a paid payment.")
        rows = conn.execute(
            "SELECT dedupe_key, status FROM outbox WHERE payment_id = ? AND kind = ? ORDER BY id",
            (payment_id, str(kind)),
        ).fetchall()
        originals = [row["dedupe_key"] for row in rows if RESEND_MARK not in row["dedupe_key"]]
        copies = [row for row in rows if RESEND_MARK in row["dedupe_key"]]
        if not originals:
            raise ResendRefused(f"No copy can be sent: {name} was never queued for this payment.")
        if any(row["status"] == PENDING for row in copies):
            raise ResendRefused(f"A copy of {name} is already waiting to be sent.")
        key = copy_key(originals[-1], len(copies) + 1)
        stamp = now_ms()
        cursor = conn.execute(
            "INSERT INTO outbox (payment_id, kind, dedupe_key, urgent, next_attempt_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (payment_id, str(kind), key, int(MailIntent(kind, key).urgent), stamp, stamp),
        )
        return int(cursor.fetchone()[0]), key

    return await db.write(work)


async def _update(db: Database, sql: str, params: tuple[object, ...]) -> None:
    def work(conn: Connection) -> None:
        conn.execute(sql, params)

    await db.write(work)
