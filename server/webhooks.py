"""Applying verified Stripe events to payments: each event once, with its effects, in one transaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiosqlite

from .db import Database
from .lifecycle import Facts, apply, event_references, facts_from_event
from .payments import now_ms

log = logging.getLogger(__name__)

# Resolves a PaymentIntent id to the paydesk payment id in its metadata (None: not paydesk's).
IntentResolver = Callable[[str], Awaitable[str | None]]


class MalformedEvent(ValueError):
    """The body verified but is not a Stripe event object."""


class UnknownPayment(Exception):
    """The event names a paydesk payment this database does not have: Stripe must retry it."""


@dataclass(frozen=True)
class WebhookResult:
    outcome: str  # applied | unchanged | ignored | duplicate
    reason: str
    payment_id: str | None = None

    @property
    def changed_payment(self) -> bool:
        return self.outcome == "applied"


def parse_event(payload: bytes) -> dict[str, Any]:
    """The verified body as an event dict, or MalformedEvent saying what is missing."""
    try:
        event = json.loads(payload)
    except ValueError:
        raise MalformedEvent("body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise MalformedEvent("body is not a Stripe event object")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise MalformedEvent("event has no id or type")
    if not isinstance(event.get("created"), int) or not isinstance(event.get("data"), dict):
        raise MalformedEvent("event has no created time or data")
    if not isinstance(event["data"].get("object"), dict):
        raise MalformedEvent("event has no data.object")
    return event


class WebhookProcessor:
    def __init__(self, db: Database, resolve_intent: IntentResolver) -> None:
        self._db = db
        self._resolve_intent = resolve_intent

    async def process(self, event: Mapping[str, Any], payload: bytes) -> WebhookResult:
        """Record and apply one verified event. Raises UnknownPayment when it must not be acknowledged."""
        if await self._db.fetch_one("SELECT 1 FROM stripe_events WHERE id = ?", (event["id"],)):
            return WebhookResult("duplicate", "already processed")
        event_facts = facts_from_event(event)
        payment_id = await self._find_payment(event, handled=event_facts is not None)
        record = _EventRecord(event, payload.decode("utf-8"))

        async def write(conn: aiosqlite.Connection) -> WebhookResult:
            # Checked again under the write lock: a concurrent copy of this event may have won.
            async with conn.execute(
                "SELECT 1 FROM stripe_events WHERE id = ?", (event["id"],)
            ) as cur:
                if await cur.fetchone():
                    return WebhookResult("duplicate", "already processed")
            if payment_id is None:
                return await record.save(conn, None, "ignored", "not a paydesk payment")
            if event_facts is None:
                return await record.save(
                    conn, payment_id, "ignored", f"{event['type']} is not used by paydesk"
                )
            async with conn.execute(
                "SELECT facts, amount, payment_intent_id FROM payments WHERE id = ?", (payment_id,)
            ) as cur:
                row = await cur.fetchone()
            assert row is not None  # payments are never deleted
            outcome = apply(Facts.from_json(row["facts"]), event_facts, amount=row["amount"])
            intent_id = row["payment_intent_id"] or event_references(event).payment_intent_id
            if outcome.changed or intent_id != row["payment_intent_id"]:
                await conn.execute(
                    "UPDATE payments SET facts = ?, status = ?, status_reason = NULL, payment_intent_id = ?,"
                    " updated_at = ?, version = version + 1 WHERE id = ?",
                    (
                        outcome.facts.to_json(),
                        str(outcome.status_after),
                        intent_id,
                        now_ms(),
                        payment_id,
                    ),
                )
            stamp = now_ms()
            await conn.executemany(
                "INSERT OR IGNORE INTO outbox (payment_id, kind, dedupe_key, urgent, next_attempt_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (payment_id, str(m.kind), m.dedupe_key, int(m.urgent), stamp, stamp)
                    for m in outcome.mails
                ],
            )
            return await record.save(
                conn, payment_id, "applied" if outcome.changed else "unchanged", outcome.reason
            )

        return await self._db.write(write)

    async def _find_payment(self, event: Mapping[str, Any], *, handled: bool) -> str | None:
        refs = event_references(event)
        for field, value in refs.lookup_order():
            if field == "charge_id":
                continue  # charges are found through their PaymentIntent
            query = f"SELECT id FROM payments WHERE {_COLUMN[field]} = ?"  # noqa: S608 - fixed column names
            row = await self._db.fetch_one(query, (value,))
            if row:
                return str(row["id"])
        if refs.payment_id and refs.payment_id.startswith("pay_"):
            log.error(
                "event %s (%s) names payment %s, which this database does not have",
                event["id"],
                event["type"],
                refs.payment_id,
            )
            raise UnknownPayment(refs.payment_id)
        if handled and refs.payment_intent_id:
            # A charge, refund or dispute event can arrive before any event that told us its
            # PaymentIntent: ask Stripe whose it is rather than drop it as someone else's.
            owner = await self._resolve_intent(refs.payment_intent_id)
            if owner:
                row = await self._db.fetch_one("SELECT id FROM payments WHERE id = ?", (owner,))
                if row:
                    return str(row["id"])
                log.error(
                    "event %s names PaymentIntent %s of payment %s, which this database does not have",
                    event["id"],
                    refs.payment_intent_id,
                    owner,
                )
                raise UnknownPayment(owner)
        return None


_COLUMN = {
    "payment_id": "id",
    "checkout_session_id": "checkout_session_id",
    "payment_intent_id": "payment_intent_id",
}


class _EventRecord:
    """The stripe_events row: one per event id, and the payment timeline's entry for it."""

    def __init__(self, event: Mapping[str, Any], payload: str) -> None:
        self.event = event
        self.payload = payload

    async def save(
        self, conn: aiosqlite.Connection, payment_id: str | None, outcome: str, reason: str
    ) -> WebhookResult:
        await conn.execute(
            "INSERT INTO stripe_events (id, type, created, received_at, payment_id, outcome, reason, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.event["id"],
                self.event["type"],
                self.event["created"],
                now_ms(),
                payment_id,
                outcome,
                reason,
                self.payload,
            ),
        )
        return WebhookResult(outcome, reason, payment_id)
