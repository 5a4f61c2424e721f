"""Reading the figures the dashboard and the health page show from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..db import Database, Row, WriteCheck
from ..lifecycle import Facts, Status
from ..webhook_stats import WebhookStats
from ..webhooks import WebhookAlarm, webhook_alarm
from .queries import day_start_ms
from .stats import (
    FAILED,
    PAID,
    PERIODS,
    Dashboard,
    OpenDispute,
    PaidPayment,
    open_disputes,
    summarize,
    utc_day,
)
from .timeline import mail_state

DAY_MS = 24 * 60 * 60 * 1000
WEBHOOK_ALERT_AFTER_S = 600  # the WEBHOOK_ALERT_AFTER default
# Rows created since a moment; CASE, not a sum of booleans, which PostgreSQL does not add up.
COUNT_SINCE = "coalesce(sum(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), 0)"


async def load_dashboard(db: Database, now: int) -> Dashboard:
    today = utc_day(now)
    starts = [day_start_ms(today - timedelta(days=days - 1)) for _, days in PERIODS]
    failed = [str(s) for s in FAILED]
    # Failed: declined or a failed debit, or expired after a declined try (the decline stays in the facts).
    counts = await db.fetch_one(
        f"SELECT {', '.join(COUNT_SINCE for _ in starts)} FROM payments"  # noqa: S608
        " WHERE created_at >= ? AND (status IN (?, ?)"
        " OR (status = ? AND json_extract(facts, '$.decline') IS NOT NULL))",
        (*starts, min(starts), *failed, str(Status.EXPIRED)),
    )
    paid_statuses = sorted(str(s) for s in PAID)
    rows = await db.fetch_all(
        "SELECT created_at, amount, currency, facts FROM payments"  # noqa: S608 - placeholders only
        f" WHERE status IN ({', '.join('?' for _ in paid_statuses)}) AND created_at >= ?",
        (*paid_statuses, min(starts)),
    )
    paid = [
        PaidPayment(r["created_at"], r["amount"], r["currency"], Facts.from_json(r["facts"]))
        for r in rows
    ]
    return summarize(paid, list(counts) if counts else [0] * len(starts), today)


async def load_open_disputes(db: Database) -> list[OpenDispute]:
    rows = await db.fetch_all(
        "SELECT id, customer_name, currency, facts FROM payments WHERE status = ?",
        (str(Status.DISPUTED),),
    )
    return open_disputes(
        [(r["id"], r["customer_name"], r["currency"], Facts.from_json(r["facts"])) for r in rows]
    )


@dataclass(frozen=True)
class EventLine:
    received_at: int
    id: str
    type: str
    outcome: str
    reason: str
    payment_id: str | None


@dataclass(frozen=True)
class MailLine:
    created_at: int
    payment_id: str
    kind: str
    state: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class Health:
    last_event: EventLine | None
    rejected_day: int  # webhook calls refused (bad signature, malformed) in the last 24 hours
    rejected_reasons: dict[str, int]  # since the process started
    ignored_day: int  # verified events about a paydesk payment that paydesk does not use
    unmatched_day: int  # verified events that are not about any paydesk payment
    recent_ignored: list[EventLine]
    mail_queued: int
    mail_retrying: int
    mail_failed: int
    oldest_waiting_at: int | None
    mail_problems: list[MailLine]  # retrying and failed, newest first
    webhook_alarm: WebhookAlarm | None = None  # Stripe's webhooks are not reaching paydesk


@dataclass(frozen=True)
class Storage:
    """The database's disk: whether writes commit, and how much room is left."""

    check: WriteCheck
    low_space: bool  # less free than the warning threshold (DISK_WARNING_MB)


async def load_storage(db: Database, warning_bytes: int) -> Storage:
    check = await db.check_writes()
    return Storage(check, 0 <= check.free_bytes < warning_bytes)  # -1: PostgreSQL's own disk


async def load_health(
    db: Database, stats: WebhookStats, now: int, alert_after_s: int = WEBHOOK_ALERT_AFTER_S
) -> Health:
    """`alert_after_s`: WEBHOOK_ALERT_AFTER, how long confirmations may go without a webhook."""
    since = now - DAY_MS
    alarm = await webhook_alarm(db, now, alert_after_s, stats.mismatch_streak(alert_after_s))
    last = await db.fetch_one("SELECT * FROM stripe_events ORDER BY received_at DESC LIMIT 1")
    counts = await db.fetch_one(
        "SELECT count(payment_id), count(*) - count(payment_id)"
        " FROM stripe_events WHERE received_at >= ? AND outcome = 'ignored'",
        (since,),
    )
    ignored = await db.fetch_all(
        "SELECT * FROM stripe_events WHERE received_at >= ? AND outcome = 'ignored'"
        " ORDER BY received_at DESC LIMIT 10",
        (since,),
    )
    mail = await db.fetch_one(
        "SELECT coalesce(sum(CASE WHEN status = 'pending' AND attempts = 0 THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN status = 'pending' AND attempts > 0 THEN 1 ELSE 0 END), 0),"
        " (SELECT count(*) FROM outbox WHERE status = 'failed'),"
        " min(created_at) FROM outbox WHERE status = 'pending'"
    )
    problems = await db.fetch_all(
        "SELECT * FROM outbox WHERE status = 'failed' OR (status = 'pending' AND attempts > 0)"
        " ORDER BY id DESC LIMIT 10"
    )
    assert counts is not None  # aggregates always give a row
    assert mail is not None
    return Health(
        last_event=_event(last) if last else None,
        rejected_day=stats.rejected_last_day(),
        rejected_reasons=dict(stats.rejected_total),
        ignored_day=counts[0],
        unmatched_day=counts[1],
        recent_ignored=[_event(row) for row in ignored],
        mail_queued=mail[0],
        mail_retrying=mail[1],
        mail_failed=mail[2],
        oldest_waiting_at=mail[3],
        mail_problems=[
            MailLine(
                r["created_at"],
                r["payment_id"],
                r["kind"],
                mail_state(r),
                r["attempts"],
                r["last_error"],
            )
            for r in problems
        ],
        webhook_alarm=alarm,
    )


def _event(row: Row) -> EventLine:
    return EventLine(
        row["received_at"], row["id"], row["type"], row["outcome"], row["reason"], row["payment_id"]
    )
