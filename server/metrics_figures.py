"""The database's figures for /metrics, read at scrape time: one cheap read-only query each."""

from __future__ import annotations

from dataclasses import dataclass

from .clock import now_ms
from .db import Database


@dataclass(frozen=True)
class OutboxFigures:
    pending: int  # mail not delivered yet
    failed: int  # mail given up on
    oldest_pending_age_ms: int  # 0 when nothing is pending
    failed_attempts: int  # delivery attempts that failed, over pending and failed mail


async def payments_by_status(db: Database) -> dict[str, int]:
    """How many payments are in each status; read from the (status, created_at) index alone."""
    rows = await db.fetch_all("SELECT status, count(*) FROM payments GROUP BY status")
    return {str(row[0]): int(row[1]) for row in rows}


async def outbox_figures(db: Database) -> OutboxFigures:
    """Mail waiting and mail given up on; through the (status, next_attempt_at) index, so sent
    mail, however much of it, is never read."""
    rows = await db.fetch_all(
        "SELECT status, count(*), min(created_at), sum(attempts) FROM outbox"
        " WHERE status IN ('pending', 'failed') GROUP BY status"
    )
    by_status = {str(row[0]): row for row in rows}
    pending, failed = by_status.get("pending"), by_status.get("failed")
    oldest = int(pending[2]) if pending is not None else None
    return OutboxFigures(
        pending=int(pending[1]) if pending is not None else 0,
        failed=int(failed[1]) if failed is not None else 0,
        oldest_pending_age_ms=max(now_ms() - oldest, 0) if oldest is not None else 0,
        failed_attempts=sum(int(row[3]) for row in rows),
    )
