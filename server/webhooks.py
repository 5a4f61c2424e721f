"""Applying verified Stripe events to payments: each event once, with its effects, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from . import customers, payments
from .clock import now_ms
from .db import Connection, Database
from .lifecycle import apply, event_references, facts_from_event
from .mail import outbox
from .notify import outbox as notifications
from .payment_events import PaymentEvents
from .stripe_gateway import API_VERSION

log = logging.getLogger(__name__)

# Resolves a PaymentIntent id to the paydesk payment id in its metadata (None: not paydesk's).
IntentResolver = Callable[[str], Awaitable[str | None]]
# Queues the fetch of a payment's balance transaction: (payment id, balance transaction id).
BalanceWanted = Callable[[str, str], object]


class MalformedEvent(ValueError):
    """The body verified but is not a Stripe event object."""


class UnknownPayment(Exception):
    """The event names a paydesk payment this database does not have yet: Stripe must retry it."""


# An event's `created` must be a time: from the epoch to the end of year 9999, well within what
# SQLite stores (a signed 64-bit int). Nothing tighter: a server clock that is wrong by days must
# not turn every genuine event away (the signature's timestamp already bounds replays).
EARLIEST_CREATED_S = 0
LATEST_CREATED_S = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_ID_LENGTH = 255  # Stripe's ids and event types are far shorter; anything longer is not Stripe's
MAX_VERSION_LENGTH = 64  # "2026-10-28.endive"; a longer `api_version` is not recorded

# How long after an event's `created` a missing payment may still appear here. The payment row is
# committed before its Checkout Session exists, so only a row being committed right now can be
# missing; after this window the payment belongs to another database (a second installation on
# the same Stripe account, a restored backup) and the event is acknowledged as ignored, so its
# retries do not fail for days.
UNKNOWN_PAYMENT_RETRY_S = 600
UNKNOWN_PAYMENT_REASON = "names a payment this database does not have"


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
    if not _short_text(event.get("id")) or not _short_text(event.get("type")):
        raise MalformedEvent("event has no id or type")
    created = event.get("created")
    # bool is an int to Python, and orjson reads integers beyond SQLite's 64 bits.
    if type(created) is not int or not isinstance(event.get("data"), dict):
        raise MalformedEvent("event has no created time or data")
    if not EARLIEST_CREATED_S <= created <= LATEST_CREATED_S:
        raise MalformedEvent("malformed event: created is not a plausible time")
    if not isinstance(event["data"].get("object"), dict):
        raise MalformedEvent("event has no data.object")
    return event


def api_version_of(event: Mapping[str, Any]) -> str | None:
    """The API version Stripe rendered the event in, when it says (paydesk's own observed events
    and very old endpoints do not)."""
    version = event.get("api_version")
    return version if isinstance(version, str) and 0 < len(version) <= MAX_VERSION_LENGTH else None


@dataclass(frozen=True)
class VersionSeen:
    """Events of an API version other than paydesk's, received lately."""

    api_version: str
    events: int
    last_received_at: int  # unix milliseconds


async def other_api_versions(db: Database, since: int) -> list[VersionSeen]:
    """API versions other than API_VERSION that events received since `since` (ms) were in.

    Such events are still applied: paydesk reads the fields it uses, by name, and every one it
    uses is in the versions Stripe offers today. But a field renamed or removed in a version
    paydesk does not know would be read as missing, so the operator is asked to set the webhook
    endpoint's version to paydesk's.
    """
    rows = await db.fetch_all(
        "SELECT api_version, count(*) AS events, max(received_at) AS last_received_at"
        " FROM stripe_events WHERE received_at >= ? AND api_version IS NOT NULL"
        " AND api_version != ? GROUP BY api_version ORDER BY max(received_at) DESC",
        (since, API_VERSION),
    )
    return [
        VersionSeen(str(r["api_version"]), int(r["events"]), int(r["last_received_at"]))
        for r in rows
    ]


VERSIONS_WINDOW_MS = 7 * 24 * 60 * 60 * 1000  # events of another API version this recent warn


def api_version_advice(versions: list[str]) -> str:
    """What to do about events of other API versions, in one sentence."""
    return (
        f"Stripe sent webhook events in API version {', '.join(versions)}; paydesk is written for"
        f" {API_VERSION}. Set the webhook endpoint's API version to {API_VERSION} in the Stripe"
        " Dashboard (Developers, Webhooks), or create a new endpoint with that version."
    )


def _short_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


async def last_event_received_at(db: Database) -> int | None:
    """When the newest verified event was stored (ms), or None when none ever was.

    Refused calls are never stored, so every row here passed verification.
    """
    row = await db.fetch_one("SELECT max(received_at) FROM stripe_events")
    return None if row is None or row[0] is None else int(row[0])


# Rows paydesk made from what it asked Stripe (server/confirm.py) have ids starting with this;
# every other row came as a verified webhook.
OBSERVED_PREFIX = "obs_"
MISMATCH_STREAK = 10  # refused signatures in a row, within the alert window, that raise the alarm
NOT_ARRIVING = "payments are confirmed through Stripe's API but no webhook arrives"
SIGNATURES_REFUSED = "the signing secret does not match"


@dataclass(frozen=True)
class WebhookAlarm:
    """Stripe's webhooks are not reaching paydesk: why, and since which verified one."""

    reason: str
    incident: str  # the last verified event's id ("never"): a new webhook starts a new incident
    payment_id: str | None  # the payment that showed it, which its operator mail is attached to

    @property
    def cause(self) -> str:
        return "secret" if self.reason == SIGNATURES_REFUSED else "silent"


async def webhook_alarm(
    db: Database, now: int, alert_after_s: int, mismatches: int
) -> WebhookAlarm | None:
    """The alarm when webhooks are not arriving, else None: two indexed look-ups, cheap to ask.

    `mismatches`: refused signatures in a row within the alert window (WebhookStats).
    """
    last = await db.fetch_one(
        "SELECT id, received_at FROM stripe_events WHERE substr(id, 1, 4) != ?"
        " ORDER BY received_at DESC LIMIT 1",
        (OBSERVED_PREFIX,),
    )
    incident, since = (str(last["id"]), int(last["received_at"])) if last else ("never", 0)
    # A payment reached a state through the API and no webhook at all came in the window after.
    observed = await db.fetch_one(
        "SELECT payment_id FROM stripe_events WHERE received_at > ? AND received_at <= ?"
        " AND substr(id, 1, 4) = ? AND outcome = 'applied' ORDER BY received_at LIMIT 1",
        (since, now - alert_after_s * 1000, OBSERVED_PREFIX),
    )
    if mismatches >= MISMATCH_STREAK:
        newest = await db.fetch_one("SELECT id FROM payments ORDER BY created_at DESC LIMIT 1")
        about = observed["payment_id"] if observed else newest["id"] if newest else None
        return WebhookAlarm(SIGNATURES_REFUSED, incident, about)
    if observed is not None:
        return WebhookAlarm(NOT_ARRIVING, incident, observed["payment_id"])
    return None


class WebhookProcessor:
    def __init__(
        self,
        db: Database,
        resolve_intent: IntentResolver,
        events: PaymentEvents,
        balances: BalanceWanted | None = None,
    ) -> None:
        """`balances`: told (payment id, balance transaction id) after a commit that named a
        balance transaction whose figures are not known yet; it must not wait (queue only)."""
        self._db = db
        self._resolve_intent = resolve_intent
        self._events = events
        self._balances = balances

    async def process(
        self, event: Mapping[str, Any], payload: bytes, *, source: str = ""
    ) -> WebhookResult:
        """Record and apply one verified event, then tell `events` of the change it committed.

        `source`: how the event came when not as a webhook, written after its stored reason.
        Raises UnknownPayment when the event must not be acknowledged.
        """
        applier = _EventApplier(event, payload.decode("utf-8"), source)
        result = await self._apply(applier)
        if result.changed_payment and result.payment_id:
            await self._events.committed(result.payment_id)
        if applier.balance_due and self._balances:
            self._balances(*applier.balance_due)
        return result

    async def sound_alarm(
        self, now: int, alert_after_s: int, mismatches: int
    ) -> WebhookAlarm | None:
        """Check whether webhooks are arriving; on an alarm, queue the operator's one mail for it."""
        alarm = await webhook_alarm(self._db, now, alert_after_s, mismatches)
        if alarm is None or alarm.payment_id is None:
            return alarm  # with no payment yet there is nothing to attach a mail to, nor to lose
        payment_id = alarm.payment_id
        queued = await self._db.write(
            lambda conn: outbox.queue_webhook_alarm(conn, payment_id, alarm.incident, alarm.cause)
        )
        if queued:
            await self._events.committed(payment_id)  # wakes the mail sender
        return alarm

    async def _apply(self, applier: _EventApplier) -> WebhookResult:
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


class _EventApplier:
    """One event's whole effect on the database, run as one write on the writer's thread."""

    def __init__(self, event: Mapping[str, Any], payload: str, source: str = "") -> None:
        self.event = event
        self.payload = payload
        self.source = source
        self.facts = facts_from_event(event)
        self.refs = event_references(event)
        self.balance_due: tuple[str, str] | None = None  # (payment, balance transaction) to fetch

    def apply(self, conn: Connection, owner: str | None = None) -> WebhookResult | _AskStripe:
        """`owner`: the payment Stripe says the event's PaymentIntent belongs to, once asked."""
        event = self.event
        if conn.execute("SELECT 1 FROM stripe_events WHERE id = ?", (event["id"],)).fetchone():
            return WebhookResult("duplicate", "already processed")
        payment_id = self._find_payment(conn)
        if payment_id is None and self.refs.payment_id and self.refs.payment_id.startswith("pay_"):
            return self._missing_payment(conn, self.refs.payment_id)
        if payment_id is None and self.facts is not None and self.refs.payment_intent_id:
            if owner is None:
                return _AskStripe(self.refs.payment_intent_id)
            if owner != NOT_OURS:
                if not payments.exists(conn, owner):
                    return self._missing_payment(conn, owner)
                payment_id = owner
        if payment_id is None:
            return self._save(conn, None, "ignored", "not a paydesk payment")
        if self.facts is None:
            return self._save(
                conn, payment_id, "ignored", f"{event['type']} is not used by paydesk"
            )
        known = payments.event_view(conn, payment_id)
        outcome = apply(known.facts, self.facts, amount=known.amount)
        intent_id = known.payment_intent_id or self.refs.payment_intent_id
        if outcome.changed or intent_id != known.payment_intent_id:
            payments.record_outcome(
                conn, payment_id, outcome.facts, outcome.status_after, intent_id
            )
        if outcome.mails:
            outbox.enqueue(conn, payment_id, outcome.mails)
        txn_id, balance = outcome.facts.balance_transaction, outcome.facts.balance
        if txn_id and (balance is None or balance.id != txn_id):
            self.balance_due = (payment_id, txn_id)
        notifications.enqueue(conn, payment_id, outcome)
        # The Customer a completed checkout was paid as: the email's next checkout reuses it.
        customers.remember_from_event(conn, payment_id, event)
        return self._save(
            conn, payment_id, "applied" if outcome.changed else "unchanged", outcome.reason
        )

    def _find_payment(self, conn: Connection) -> str | None:
        for field, value in self.refs.lookup_order():
            if field == "charge_id":
                continue  # charges are found through their PaymentIntent
            found = payments.find_by_stripe_reference(conn, field, value)
            if found:
                return found
        return None

    def _missing_payment(self, conn: Connection, named: str) -> WebhookResult:
        """The event names a paydesk payment id this database lacks: retry briefly, then ignore.

        Raises UnknownPayment while the payment could still be committed here.
        """
        event = self.event
        if self.facts is None:
            return self._save(conn, None, "ignored", UNKNOWN_PAYMENT_REASON)
        age_s = now_ms() / 1000 - event["created"]
        if age_s <= UNKNOWN_PAYMENT_RETRY_S:
            log.warning(
                "event %s (%s) names payment %.100s, which this database does not have yet; Stripe retries it",
                event["id"],
                event["type"],
                named,
            )
            raise UnknownPayment(named)
        # Logged once: the saved row makes every later delivery a duplicate.
        log.error(
            "event %s (%s) names payment %.100s, which this database does not have: ignored",
            event["id"],
            event["type"],
            named,
        )
        return self._save(conn, None, "ignored", UNKNOWN_PAYMENT_REASON)

    def _save(
        self, conn: Connection, payment_id: str | None, outcome: str, reason: str
    ) -> WebhookResult:
        """The stripe_events row: one per event id, and the payment timeline's entry for it."""
        if self.source:
            reason = f"{reason} ({self.source})"
        conn.execute(
            "INSERT INTO stripe_events (id, type, created, received_at, payment_id, outcome, reason,"
            " payload, api_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.event["id"],
                self.event["type"],
                self.event["created"],
                now_ms(),
                payment_id,
                outcome,
                reason,
                self.payload,
                api_version_of(self.event),
            ),
        )
        return WebhookResult(outcome, reason, payment_id)
