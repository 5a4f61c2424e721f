"""Applying events listed by Stripe's Events API through the webhook path, each event once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..db import Database
from ..stripe_gateway import StripeUnavailable
from ..webhooks import (
    OBSERVED_PREFIX,
    MalformedEvent,
    UnknownPayment,
    WebhookProcessor,
    parse_event,
)
from . import Listing

OUTCOMES = ("applied", "unchanged", "duplicate", "ignored", "deferred")


@dataclass(frozen=True)
class Applied:
    event_id: str
    event_type: str
    outcome: str  # one of OUTCOMES
    reason: str
    payment_id: str | None

    def line(self) -> str:
        payment = self.payment_id or "-"
        return f"{self.outcome:<9} {self.event_id}  {self.event_type}  {payment}  {self.reason}"


async def apply_event(processor: WebhookProcessor, payload: bytes) -> Applied:
    """One listed event through the webhook path: stored once, whichever way it came first."""
    try:
        event = parse_event(payload)
    except MalformedEvent as exc:
        return Applied("?", "?", "ignored", str(exc), None)
    try:
        result = await processor.process(event, payload)
    except UnknownPayment as exc:
        return Applied(
            event["id"], event["type"], "deferred", f"payment {exc} is not here yet", None
        )
    except StripeUnavailable as exc:
        return Applied(event["id"], event["type"], "deferred", str(exc), None)
    return Applied(event["id"], event["type"], result.outcome, result.reason, result.payment_id)


async def last_stripe_event_at(db: Database) -> int | None:
    """When the newest event that came from Stripe (a verified webhook, or an earlier catch-up)
    was stored, in ms; None when none ever was.

    Rows paydesk made from what it observed of one payment do not count: they say nothing about
    the refunds and disputes of the others.
    """
    row = await db.fetch_one(
        "SELECT received_at FROM stripe_events WHERE substr(id, 1, 4) != ?"
        " ORDER BY received_at DESC LIMIT 1",
        (OBSERVED_PREFIX,),
    )
    return None if row is None else int(row[0])


# Ids asked about per query: well under SQLite's limit on bound parameters.
IDS_PER_QUERY = 500


async def stored_event_ids(db: Database, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` this database already holds: a few reads, so a long listing of
    events already applied costs no write each."""
    found: set[str] = set()
    for start in range(0, len(event_ids), IDS_PER_QUERY):
        chunk = event_ids[start : start + IDS_PER_QUERY]
        marks = ", ".join("?" for _ in chunk)
        rows = await db.fetch_all(
            f"SELECT id FROM stripe_events WHERE id IN ({marks})",  # noqa: S608 - placeholders only
            tuple(chunk),
        )
        found.update(str(row[0]) for row in rows)
    return found


async def apply_listing(
    db: Database,
    processor: WebhookProcessor,
    listing: Listing,
    report: Callable[[Applied], None],
) -> Counter[str]:
    """Every listed event not stored yet, oldest first; how many had each outcome.

    `report` hears of each event that was applied or deferred. An event stored meanwhile (its
    webhook arriving now) is still a duplicate: the processor checks again inside its write.
    """
    known = await stored_event_ids(db, [str(event.get("id")) for event, _ in listing.events])
    counts: Counter[str] = Counter()
    for event, payload in listing.events:
        if event.get("id") in known:
            counts["duplicate"] += 1
            continue
        applied = await apply_event(processor, payload)
        counts[applied.outcome] += 1
        if applied.outcome in ("applied", "deferred"):
            report(applied)
    return counts
