"""Applying verified Stripe events to payments: each event once, with its effects, in one transaction."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

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
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
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
        applier = _EventApplier(event, payload.decode("utf-8"))
        result = await self._db.write(applier.apply)
        if not isinstance(result, _AskStripe):
            return result
        # A charge, refund or dispute event can arrive before any event that told us its
        # PaymentIntent: ask Stripe whose it is rather than drop it as someone else's. Asked
        # outside the transaction (Stripe may be slow), then the event is applied as usual.
        owner = await self._resolve_intent(result.payment_intent_id)
        answered = await self._db.write(lambda conn: applier.apply(conn, owner=owner or NOT_OURS))
        assert not isinstance(answered, _AskStripe)  # an owner was given
        return answered


@dataclass(frozen=True)
class _AskStripe:
    """No payment of ours names this PaymentIntent yet; Stripe knows whose it is."""

    payment_intent_id: str


NOT_OURS = ""  # Stripe's answer for a PaymentIntent paydesk did not create

_COLUMN = {
    "payment_id": "id",
    "checkout_session_id": "checkout_session_id",
    "payment_intent_id": "payment_intent_id",
}


class _EventApplier:
    """One event's whole effect on the database, run as one write on the writer's thread."""

    def __init__(self, event: Mapping[str, Any], payload: str) -> None:
        self.event = event
        self.payload = payload
        self.facts = facts_from_event(event)
        self.refs = event_references(event)

    def apply(
        self, conn: sqlite3.Connection, owner: str | None = None
    ) -> WebhookResult | _AskStripe:
        """`owner`: the payment Stripe says the event's PaymentIntent belongs to, once asked."""
        event = self.event
        if conn.execute("SELECT 1 FROM stripe_events WHERE id = ?", (event["id"],)).fetchone():
            return WebhookResult("duplicate", "already processed")
        payment_id = self._find_payment(conn)
        if payment_id is None and self.facts is not None and self.refs.payment_intent_id:
            if owner is None:
                return _AskStripe(self.refs.payment_intent_id)
            if owner != NOT_OURS:
                payment_id = self._known_owner(conn, owner)
        if payment_id is None:
            return self._save(conn, None, "ignored", "not a paydesk payment")
        if self.facts is None:
            return self._save(
                conn, payment_id, "ignored", f"{event['type']} is not used by paydesk"
            )
        row = conn.execute(
            "SELECT facts, amount, payment_intent_id FROM payments WHERE id = ?", (payment_id,)
        ).fetchone()
        assert row is not None  # payments are never deleted
        outcome = apply(Facts.from_json(row["facts"]), self.facts, amount=row["amount"])
        intent_id = row["payment_intent_id"] or self.refs.payment_intent_id
        if outcome.changed or intent_id != row["payment_intent_id"]:
            conn.execute(
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
        if outcome.mails:
            stamp = now_ms()
            conn.executemany(
                "INSERT OR IGNORE INTO outbox (payment_id, kind, dedupe_key, urgent, next_attempt_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (payment_id, str(m.kind), m.dedupe_key, int(m.urgent), stamp, stamp)
                    for m in outcome.mails
                ],
            )
        return self._save(
            conn, payment_id, "applied" if outcome.changed else "unchanged", outcome.reason
        )

    def _find_payment(self, conn: sqlite3.Connection) -> str | None:
        for field, value in self.refs.lookup_order():
            if field == "charge_id":
                continue  # charges are found through their PaymentIntent
            query = f"SELECT id FROM payments WHERE {_COLUMN[field]} = ?"  # noqa: S608 - fixed column names
            row = conn.execute(query, (value,)).fetchone()
            if row:
                return str(row["id"])
        if self.refs.payment_id and self.refs.payment_id.startswith("pay_"):
            log.error(
                "event %s (%s) names payment %s, which this database does not have",
                self.event["id"],
                self.event["type"],
                self.refs.payment_id,
            )
            raise UnknownPayment(self.refs.payment_id)
        return None

    def _known_owner(self, conn: sqlite3.Connection, owner: str) -> str:
        if conn.execute("SELECT 1 FROM payments WHERE id = ?", (owner,)).fetchone():
            return owner
        log.error(
            "event %s names PaymentIntent %s of payment %s, which this database does not have",
            self.event["id"],
            self.refs.payment_intent_id,
            owner,
        )
        raise UnknownPayment(owner)

    def _save(
        self, conn: sqlite3.Connection, payment_id: str | None, outcome: str, reason: str
    ) -> WebhookResult:
        """The stripe_events row: one per event id, and the payment timeline's entry for it."""
        conn.execute(
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
