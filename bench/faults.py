"""The fault run: payments through a standalone sandbox while paydesk is killed and its webhooks are
lost, then every payment compared with the sandbox's truth.

    python -m bench faults [--payments 500] [--kills 3] [--seed 7]

paydesk runs as a process on a scratch SQLite file, sending mail to an SMTP sink on loopback
(aiosmtpd) that counts every message by its Message-ID. Customers start checkouts through
paydesk's API and pay on the sandbox's hosted page with random test cards (cards that succeed,
decline, ask for 3-D Secure or are disputed; bank debits that settle or fail); some come back to
paydesk's status page, some never do. Refunds, evidence and accepted disputes are made through
the sandbox's API meanwhile. The sandbox delivers webhooks as Stripe does (out of order, some
twice) on Stripe's retry schedule, its clock sped up by --time-scale.

Faults: paydesk is killed with SIGKILL --kills times during the storm and started again; and its
webhook endpoint points at a dead port for longer than the sandbox's whole retry window (until the
sandbox has given up on every event made meanwhile), so those webhooks fail past their last retry. Recovery is what an operator would do: the
endpoint is fixed, `paydesk reconcile` runs once, and paydesk's own sweep and confirmations do the
rest. Then every payment is compared with the sandbox (status, amount refunded, disputes), effects
applied twice and mail lost or sent twice are counted, and `PRAGMA integrity_check` is read. The
exit status is 1 unless all of them are 0 (and ok).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.parser
import email.policy
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from . import proc
from .report import save, table

AUTH = {"Authorization": f"Bearer {proc.STRIPE_TEST_KEY}"}
# Stripe's retry schedule (the sandbox's defaults, in Stripe's seconds): 1 minute doubling to
# 12 hours, 15 attempts, the last about 2.7 days after the first.
RETRY_BASE_S, RETRY_FACTOR, RETRY_MAX_S, ATTEMPTS = 60.0, 2.0, 43_200.0, 15
DEFAULT_TIME_SCALE = 0.0002  # Stripe's 2.7 days of retries in about 47 s
CONCURRENCY = 8  # customers at once
DELIVERY_CONCURRENCY = 4  # the sandbox's webhooks in flight at once (Stripe sends many at a time)
DISPUTE_DELAY_S = 2.0
DISPUTE_CLOSE_S = 15.0
SEPA_DELAY_S = 3.0
# Who the customers are, by share: card and outcome as the hosted page takes them.
MIX = (
    ("card", 44),
    ("declined", 8),
    ("declined_then_card", 6),
    ("3ds", 6),
    ("dispute", 8),
    ("sepa_ok", 8),
    ("sepa_fail", 5),
    ("abandon", 15),
)
GOOD_CARDS = ("4242424242424242", "5555555555554444", "4000056655665556")
DECLINED_CARDS = ("4000000000000002", "4000000000009995", "4000000000000069")
CARDS = {"3ds": "4000002500003155", "dispute": "4000000000000259"}
IBANS = {"sepa_ok": "DE89370400440532013000", "sepa_fail": "DE62370400440532013001"}
OPERATOR_PACE_S = 15.0  # refunds and dispute answers come within this of their payment
UP_WITHIN_S = 60.0
# Mail still pending once recovery is over is waited for this long: more than the lease a killed
# sender leaves on rows it had claimed where processes share the outbox (server/mail/outbox.py),
# so mail that is only late is not counted as lost; how late it was is reported.
DRAIN_WITHIN_S = 420.0  # a request waits this long for paydesk to come back after a kill


def retry_window_s(time_scale: float) -> float:
    """Seconds from an event's first failed delivery to the sandbox giving up on it."""
    delays = (min(RETRY_BASE_S * RETRY_FACTOR ** (n - 1), RETRY_MAX_S) for n in range(1, ATTEMPTS))
    return sum(delays) * time_scale


@dataclass
class Customer:
    """One payment's script, drawn from the seed."""

    number: int
    kind: str
    quantity: int
    comes_back: bool  # follows Stripe's redirect back to paydesk's status page
    refund: str | None  # None, "full", "partial" or "two_partials"
    dispute_answer: str | None  # None (lost by timeout), "win", "lose" or "accept"


def customers(count: int, rng: random.Random) -> list[Customer]:
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    drawn = []
    for number in range(count):
        kind = rng.choices(kinds, weights)[0]
        paid = kind in ("card", "declined_then_card", "3ds")
        refund = (
            rng.choice(("full", "partial", "two_partials")) if paid and rng.random() < 0.3 else None
        )
        answer = rng.choice((None, "win", "lose", "accept")) if kind == "dispute" else None
        drawn.append(Customer(number, kind, rng.randint(1, 4), rng.random() < 0.5, refund, answer))
    return drawn


class Inbox:
    """The SMTP sink: how many times each Message-ID arrived."""

    def __init__(self) -> None:
        self.by_message_id: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._parser = email.parser.BytesHeaderParser(policy=email.policy.default)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message_id = str(self._parser.parsebytes(envelope.content).get("Message-ID", "")).strip()
        with self._lock:
            self.by_message_id[message_id] += 1
        return "250 Message accepted for delivery"


@dataclass
class Paydesk:
    """paydesk as a process on one fixed port, so the sandbox's webhook URL outlives a kill."""

    db: Path
    work: Path
    env: dict[str, str]
    port: int
    popen: subprocess.Popen[bytes] | None = None
    kills: list[float] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> proc.Process:
        """Start the process; its log goes on in the same file after a kill."""
        with (self.work / "paydesk.log").open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [sys.executable, str(proc.RUN_PY)],
                cwd=self.work,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return proc.Process("paydesk", self.port, self.popen, self.work / "paydesk.log")

    async def start(self) -> None:
        await proc.wait_until_up(self.spawn(), "/healthz")

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self.kills.append(time.monotonic())

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


class Storm:
    """The customers, the operator's refunds and dispute answers, and the faults."""

    def __init__(
        self, paydesk: Paydesk, sandbox: str, rng: random.Random, http: aiohttp.ClientSession
    ) -> None:
        self.paydesk = paydesk
        self.sandbox = sandbox
        self.rng = rng
        self.started = 0
        self.outcomes: Counter[str] = Counter()
        self.paydesk_up = asyncio.Event()
        self.paydesk_up.set()
        self.later: list[asyncio.Task[None]] = []  # refunds and dispute answers still to come
        # Refunds and dispute answers come within this many seconds of their payment.
        self.operator_pace_s = OPERATOR_PACE_S
        self.http = http

    async def serve(self, plan: list[Customer], concurrency: int) -> None:
        queue: asyncio.Queue[Customer] = asyncio.Queue()
        for customer in plan:
            queue.put_nowait(customer)

        async def worker() -> None:
            while not queue.empty():
                customer = queue.get_nowait()
                self.started += 1
                await self.customer(customer)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await asyncio.gather(*self.later)

    async def to_paydesk(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """A request to paydesk, waiting for it to come back if it is down; (status, JSON or None)."""
        async with asyncio.timeout(UP_WITHIN_S):
            while True:
                await self.paydesk_up.wait()
                try:
                    async with self.http.request(
                        method, self.paydesk.base + path, **kwargs
                    ) as answer:
                        body = await answer.read()
                        is_json = answer.content_type == "application/json"
                        return answer.status, json.loads(body) if is_json else None
                except (aiohttp.ClientConnectionError, TimeoutError):
                    await asyncio.sleep(0.2)  # killed under us: the same request again

    async def customer(self, customer: Customer) -> None:
        order = {"product": "drop-in-class", "quantity": customer.quantity,
                 "name": f"Customer {customer.number}", "email": f"c{customer.number}@example.com"}  # fmt: skip
        status, body = await self.to_paydesk("POST", "/api/checkout", json=order)
        if status != 201 and status != 200:
            self.outcomes[f"checkout answered {status}"] += 1
            return
        url = str(body["checkout_url"])
        if customer.kind == "abandon":
            self.outcomes["abandoned"] += 1
            return
        landed = await self.pay(customer, url)
        self.outcomes[customer.kind] += 1
        if landed and customer.comes_back:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await self.to_paydesk("GET", landed.removeprefix(self.paydesk.base))
        session_id = url.rsplit("/", 1)[-1]
        if customer.refund:
            self.later.append(asyncio.create_task(self.refund_later(session_id, customer)))
        if customer.kind == "dispute" and customer.dispute_answer:
            self.later.append(asyncio.create_task(self.answer_dispute(session_id, customer)))

    async def pay(self, customer: Customer, url: str) -> str | None:
        """Pay on the hosted page as the customer's browser would; where Stripe sent them back."""
        async with self.http.get(url) as page:
            assert page.status == 200, f"hosted page answered {page.status}"
        if customer.kind in IBANS:
            form = {"payment_method": "sepa_debit", "iban": IBANS[customer.kind],
                    "account_holder": f"Customer {customer.number}"}  # fmt: skip
            return await self.post_form(url, form)
        if customer.kind in ("declined", "declined_then_card"):
            await self.post_form(url, card_form(self.rng.choice(DECLINED_CARDS)))
            if customer.kind == "declined":
                return None
        card = CARDS.get(customer.kind) or self.rng.choice(GOOD_CARDS)
        location = await self.post_form(url, card_form(card))
        if location and "/authenticate" in location:
            target = location if location.startswith("http") else self.sandbox + location
            location = await self.post_form(target, {"outcome": "approve"})
        return location

    async def post_form(self, url: str, form: dict[str, str]) -> str | None:
        async with self.http.post(url, data=form, allow_redirects=False) as answer:
            await answer.read()
            return answer.headers.get("Location") if answer.status == 303 else None

    async def stripe(self, method: str, path: str, **form: str) -> dict[str, Any]:
        """The sandbox's API, as the operator's Stripe dashboard would use it."""
        headers = dict(AUTH)
        if method == "POST":
            headers["Idempotency-Key"] = f"bench-{self.rng.getrandbits(64):x}"
        async with self.http.request(
            method, self.sandbox + path, data=form or None, headers=headers
        ) as answer:
            body = await answer.json()
            if answer.status >= 400:
                return {"error": body.get("error", {}).get("message", str(answer.status))}
            return dict(body)

    async def control(self, path: str, body: dict[str, Any]) -> Any:
        """One of the sandbox's control routes (timers, deliveries)."""
        async with self.http.post(self.sandbox + path, json=body, headers=AUTH) as answer:
            return await answer.json()

    async def refund_later(self, session_id: str, customer: Customer) -> None:
        await asyncio.sleep(self.rng.uniform(0.1, 1) * self.operator_pace_s)
        session = await self.stripe(
            "GET", f"/v1/checkout/sessions/{session_id}?expand[]=payment_intent"
        )
        intent = session.get("payment_intent") or {}
        if not isinstance(intent, dict) or intent.get("status") != "succeeded":
            return
        amount = int(intent["amount"])
        parts = {
            "full": [amount],
            "partial": [amount // 3],
            "two_partials": [amount // 4, amount // 3],
        }
        for part in parts[customer.refund or "full"]:
            answer = await self.stripe(
                "POST", "/v1/refunds", payment_intent=intent["id"], amount=str(part)
            )
            self.outcomes["refund refused" if "error" in answer else "refunds made"] += 1
            await asyncio.sleep(self.rng.uniform(0.05, 0.3) * self.operator_pace_s)

    async def answer_dispute(self, session_id: str, customer: Customer) -> None:
        await asyncio.sleep(DISPUTE_DELAY_S + self.rng.uniform(0.1, 0.6) * self.operator_pace_s)
        session = await self.stripe("GET", f"/v1/checkout/sessions/{session_id}")
        intent = session.get("payment_intent")
        if not intent:
            return
        disputes = (await self.stripe("GET", f"/v1/disputes?payment_intent={intent}")).get(
            "data"
        ) or []
        for dispute in disputes:
            if customer.dispute_answer == "accept":
                await self.stripe("POST", f"/v1/disputes/{dispute['id']}/close")
            else:
                evidence = (
                    "winning_evidence" if customer.dispute_answer == "win" else "losing_evidence"
                )
                await self.stripe(
                    "POST",
                    f"/v1/disputes/{dispute['id']}",
                    **{"evidence[uncategorized_text]": evidence},
                )
            self.outcomes[f"disputes answered: {customer.dispute_answer}"] += 1


def card_form(number: str) -> dict[str, str]:
    return {"card_number": number, "exp": "12/34", "cvc": "123"}


class Timeline:
    """What happened when, printed as it happens and kept for the report."""

    def __init__(self) -> None:
        self.begun = time.monotonic()
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(f"{time.monotonic() - self.begun:6.1f} s  {text}")
        print(f"  {self.lines[-1]}", flush=True)


async def faults_during(
    storm: Storm, total: int, kills: int, outage_s: float, timeline: Timeline
) -> None:
    """Kill paydesk at even points of the storm; cut its webhooks off from 60 % of it for `outage_s`."""
    note = timeline.note

    kill_at = [int(total * (k + 1) / (kills + 1)) for k in range(kills)]
    outage_at = int(total * 0.6)
    outage: asyncio.Task[None] | None = None
    while kill_at or outage is None:
        await asyncio.sleep(0.05)
        if outage is None and storm.started >= outage_at:
            outage = asyncio.create_task(webhooks_cut_off(storm, outage_s, note))
        if kill_at and storm.started >= kill_at[0]:
            kill_at.pop(0)
            storm.paydesk_up.clear()
            storm.paydesk.kill()
            note(f"paydesk killed (SIGKILL) after {storm.started} checkouts started")
            await asyncio.sleep(storm.rng.uniform(0.5, 2.0))
            await storm.paydesk.start()
            storm.paydesk_up.set()
            note("paydesk started again")
    if outage is not None:
        await outage


async def webhooks_cut_off(storm: Storm, seconds: float, note: Any) -> None:
    """Point the webhook endpoint at a dead port until every webhook made meanwhile has failed
    past its last retry (at least `seconds`), then back."""
    endpoints = (await storm.stripe("GET", "/v1/webhook_endpoints")).get("data") or []
    assert endpoints, "the sandbox has no webhook endpoint"
    endpoint_id, url = endpoints[0]["id"], endpoints[0]["url"]
    dead = f"http://127.0.0.1:{proc.free_port()}/webhooks/stripe"
    begun = time.monotonic()
    await storm.stripe("POST", f"/v1/webhook_endpoints/{endpoint_id}", url=dead)
    note(f"webhooks cut off (the endpoint points at a dead port) for at least {seconds:.0f} s")
    await asyncio.sleep(seconds / 2)
    # Bank debits and disputes decided now: their webhooks meet the dead port too.
    await storm.control("/_control/timers/run", {"within": 120})
    await asyncio.sleep(seconds / 2)
    # On a busy machine the sandbox's retries fall behind their schedule: the endpoint stays dead
    # until the sandbox has given up on (or delivered) every event, whatever the clock says.
    settled = await deliveries_settled(storm, seconds * 5)
    await storm.stripe("POST", f"/v1/webhook_endpoints/{endpoint_id}", url=url)
    note(
        f"webhook endpoint fixed after {time.monotonic() - begun:.0f} s;"
        f" the sandbox gave up on {settled['gave_up']} event(s)"
    )


# -- the sandbox's truth and paydesk's record ---------------------------------------------------


async def listed(http: aiohttp.ClientSession, sandbox: str, path: str) -> list[dict[str, Any]]:
    """Every object of one list endpoint, page after page."""
    objects: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "100"}
    while True:
        async with http.get(sandbox + path, params=params, headers=AUTH) as answer:
            assert answer.status == 200, f"{path} answered {answer.status}"
            page = await answer.json()
        objects.extend(page["data"])
        if not page["has_more"] or not page["data"]:
            return objects
        params["starting_after"] = page["data"][-1]["id"]


@dataclass
class Truth:
    """What Stripe (the sandbox) says about one paydesk payment."""

    status: str
    refunded: int
    refunds: dict[str, str]  # id → status
    disputes: dict[str, str]  # id → status


def expected_status(session: dict[str, Any] | None, intent: dict[str, Any] | None,
                    refunded: int, amount: int, disputed: bool) -> str:  # fmt: skip
    """The status paydesk must show for what the sandbox holds (docs/state-machine.md)."""
    if disputed:
        return "disputed"
    paid = intent is not None and intent.get("status") == "succeeded"
    if paid and refunded >= amount:
        return "refunded"
    if paid and refunded > 0:
        return "partially_refunded"
    if paid:
        return "succeeded"
    if session is not None and session.get("status") == "complete" and intent is not None:
        # A bank debit: the session completed unpaid; the intent tells how it went.
        return "processing" if intent.get("status") == "processing" else "failed"
    if session is not None and session.get("status") == "expired":
        return "expired"
    if intent is not None and intent.get("last_payment_error"):
        return "declined"
    return "pending"


async def sandbox_truth(
    http: aiohttp.ClientSession, sandbox: str, amounts: dict[str, int]
) -> dict[str, Truth]:
    sessions = await listed(http, sandbox, "/v1/checkout/sessions")
    intents = {i["id"]: i for i in await listed(http, sandbox, "/v1/payment_intents")}
    by_intent_refunds: dict[str, dict[str, dict[str, Any]]] = {}
    for refund in await listed(http, sandbox, "/v1/refunds"):
        by_intent_refunds.setdefault(refund["payment_intent"], {})[refund["id"]] = refund
    by_intent_disputes: dict[str, dict[str, str]] = {}
    for dispute in await listed(http, sandbox, "/v1/disputes"):
        by_intent_disputes.setdefault(dispute["payment_intent"], {})[dispute["id"]] = dispute[
            "status"
        ]
    truth: dict[str, Truth] = {}
    for session in sessions:
        payment_id = session.get("client_reference_id")
        if payment_id not in amounts:
            continue
        intent = intents.get(session.get("payment_intent") or "")
        intent_id = intent["id"] if intent else ""
        its_refunds = by_intent_refunds.get(intent_id, {})
        refunded = sum(
            r["amount"] for r in its_refunds.values() if r["status"] not in ("failed", "canceled")
        )
        its_disputes = by_intent_disputes.get(intent_id, {})
        status = expected_status(session, intent, refunded, amounts[payment_id], bool(its_disputes))
        seen = truth.get(payment_id)
        # paydesk makes one session per payment; should there be two, the one that got further counts.
        if seen is None or seen.status == "pending":
            truth[payment_id] = Truth(
                status, refunded, {k: r["status"] for k, r in its_refunds.items()}, its_disputes
            )
    return truth


def read_paydesk(db: Path) -> dict[str, Any]:
    """paydesk's payments, events and outbox, read from its database file."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {
            "payments": [dict(r) for r in conn.execute(
                "SELECT id, status, amount, checkout_session_id, facts FROM payments")],
            "events": dict(conn.execute(
                "SELECT substr(id, 1, 4), count(*) FROM stripe_events GROUP BY 1").fetchall()),
            "event_ids_twice": conn.execute(
                "SELECT count(*) FROM (SELECT id FROM stripe_events GROUP BY id HAVING count(*) > 1)").fetchone()[0],
            "outbox": [dict(r) for r in conn.execute(
                "SELECT id, payment_id, kind, dedupe_key, status, message_id FROM outbox")],
        }  # fmt: skip
    finally:
        conn.close()


def expected_mail(truth: Truth) -> set[str]:
    """The dedupe keys of the mail a payment in this state must have had, whatever the order of
    its events. Processing notices and refund confirmations of refunds that later failed depend on
    that order, so they are neither required nor counted as lost."""
    keys: set[str] = set()
    paid = truth.status in ("succeeded", "partially_refunded", "refunded", "disputed")
    if paid:
        keys |= {"receipt", "operator_new_payment"}
    if truth.status == "failed":
        keys |= {"async_failed_customer", "async_failed_operator"}
    for refund_id, status in truth.refunds.items():
        if status in ("failed", "canceled"):
            keys.add(f"refund_failed_operator:{refund_id}")
        else:
            keys.add(f"refund_confirmation:{refund_id}")
    for dispute_id, status in truth.disputes.items():
        keys.add(f"dispute_alert:{dispute_id}")
        if status in ("won", "lost", "warning_closed"):
            keys.add(f"dispute_closed:{dispute_id}")
    return keys


def compare(record: dict[str, Any], truth: dict[str, Truth], inbox: Inbox) -> dict[str, Any]:
    """Every payment against the sandbox; effects twice; mail lost and twice."""
    wrong: list[str] = []
    refunds_twice = 0
    expected_keys: set[tuple[str, str]] = set()
    for payment in record["payments"]:
        facts = json.loads(payment["facts"] or "{}")
        counted = sum(r["amount"] for r in facts.get("refunds", {}).values()
                      if r["status"] not in ("failed", "canceled"))  # fmt: skip
        refunded = max(facts.get("charge_refunded", 0), counted)
        disputes = {k: d["status"] for k, d in facts.get("disputes", {}).items()}
        status = "pending" if payment["status"] == "not_started" else payment["status"]
        real = truth.get(payment["id"]) or Truth("pending", 0, {}, {})
        unknown_refunds = set(facts.get("refunds", {})) - set(real.refunds)
        if refunded > real.refunded or unknown_refunds:
            refunds_twice += 1
        if status != real.status or refunded != real.refunded or disputes != real.disputes:
            wrong.append(f"{payment['id']}: paydesk {status}, refunded {refunded}, disputes {disputes};"
                         f" Stripe {real.status}, refunded {real.refunded}, disputes {real.disputes}")  # fmt: skip
        expected_keys |= {(payment["id"], key) for key in expected_mail(real)}
    rows = record["outbox"]
    queued = {(r["payment_id"], r["dedupe_key"]) for r in rows}
    rows_per_key = Counter((r["payment_id"], r["dedupe_key"]) for r in rows)
    sent_ids = [r["message_id"] for r in rows if r["status"] == "sent"]
    not_sent = [r for r in rows if r["status"] != "sent"]
    never_arrived = [m for m in sent_ids if inbox.by_message_id[m] == 0]
    missing = expected_keys - queued
    return {
        "payments": len(record["payments"]),
        "payments_wrong": len(wrong),
        "wrong_examples": wrong[:10],
        "event_ids_stored_twice": record["event_ids_twice"],
        "refunds_applied_twice": refunds_twice,
        "mail_expected": len(expected_keys),
        "mail_rows": len(rows),
        "mail_missing_from_outbox": len(missing),
        "mail_missing_examples": sorted(missing)[:10],
        "mail_not_sent": len(not_sent),
        "mail_sent_never_arrived": len(never_arrived),
        "mails_lost": len(missing) + len(not_sent) + len(never_arrived),
        "outbox_rows_twice": sum(1 for n in rows_per_key.values() if n > 1),
        "smtp_messages": sum(inbox.by_message_id.values()),
        "smtp_same_message_twice": sum(1 for n in inbox.by_message_id.values() if n > 1),
        "smtp_unknown_messages": len(set(inbox.by_message_id) - set(sent_ids)),
    }


def log_errors(log: Path) -> int:
    """ERROR lines and tracebacks in a process's log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback"))


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return ", ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


# -- the run --------------------------------------------------------------------------------------


async def deliveries_settled(storm: Storm, within: float) -> dict[str, int]:
    """Until the sandbox has delivered every webhook or given up on it; how it went."""
    deadline = time.monotonic() + within
    while True:
        async with storm.http.get(storm.sandbox + "/_control/deliveries", headers=AUTH) as answer:
            found = (await answer.json())["deliveries"]
        open_ = [d for d in found if not d["delivered"] and not d["gave_up"]]
        if not open_ or time.monotonic() > deadline:
            return {
                "events": len({d["event"] for d in found}),
                "delivered": sum(1 for d in found if d["delivered"]),
                "gave_up": sum(1 for d in found if d["gave_up"]),
                "still_retrying": len(open_),
                "attempts": sum(d["attempts"] for d in found),
                "duplicates_sent": sum(d.get("duplicates_sent", 0) for d in found),
            }
        await asyncio.sleep(0.5)


def pending_mail(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(
            conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        )
    finally:
        conn.close()


async def outbox_drained(db: Path, within: float) -> float:
    """Until no mail is pending (at most `within` seconds); how long that took."""
    begun = time.monotonic()
    while True:
        waited = time.monotonic() - begun
        if not await asyncio.to_thread(pending_mail, db) or waited > within:
            return waited
        await asyncio.sleep(0.5)


def reconcile(paydesk: Paydesk) -> str:
    """`paydesk reconcile`, as the operator runs it after an outage; its summary line."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(proc.RUN_PY), "reconcile"],
        cwd=paydesk.work,
        env={**os.environ, **paydesk.env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if "event(s) from Stripe" in line]
    return (lines[-1] if lines else done.stdout[-300:] + done.stderr[-300:]).strip()


async def run(payments: int = 500, kills: int = 3, seed: int = 7, time_scale: float = DEFAULT_TIME_SCALE,
              concurrency: int = CONCURRENCY) -> dict[str, Any]:  # fmt: skip
    from aiosmtpd.controller import Controller

    rng = random.Random(seed)
    window_s = retry_window_s(time_scale)
    # Longer than the whole retry window, so events made as it begins fail past their last retry.
    outage_s = window_s * 1.2 + 2
    inbox = Inbox()
    smtp_port = proc.free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    procs = proc.Processes()
    timeline = Timeline()
    started = time.monotonic()
    try:
        with proc.scratch("faults") as work:
            db = work / "faults.db"
            # paydesk's port is held until paydesk starts, so the sandbox cannot be given it too.
            holder = socket.socket()
            holder.bind(("127.0.0.1", 0))
            port = int(holder.getsockname()[1])
            sandbox = procs.add(await proc.start_sandbox(
                work, "--webhook-url", f"http://127.0.0.1:{port}/webhooks/stripe",
                "--webhook-secret", proc.WEBHOOK_SECRET, "--delivery", "stripe",
                "--delivery-concurrency", str(DELIVERY_CONCURRENCY), "--delivery-seed", str(seed), "--time-scale", str(time_scale),
                "--retry-base-delay", str(RETRY_BASE_S), "--retry-factor", str(RETRY_FACTOR),
                "--retry-max-delay", str(RETRY_MAX_S), "--max-attempts", str(ATTEMPTS),
                "--dispute-delay", str(DISPUTE_DELAY_S), "--dispute-close-delay", str(DISPUTE_CLOSE_S),
                "--async-payment-delay", str(SEPA_DELAY_S)))  # fmt: skip
            env = proc.paydesk_env(
                db, port, work, STRIPE_API_BASE=sandbox.base, STRIPE_SECRET_KEY=proc.STRIPE_TEST_KEY,
                SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none",
                MAIL_FROM="Harbour Yoga <pay@harbour-yoga.example>",
                ADMIN_EMAIL="owner@harbour-yoga.example", RECONCILE_INTERVAL="10")  # fmt: skip
            paydesk = Paydesk(db, work, env, port)
            holder.close()
            await paydesk.start()
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                    storm = Storm(paydesk, sandbox.base, rng, http)
                    storm.operator_pace_s = min(OPERATOR_PACE_S, outage_s)
                    plan = customers(payments, rng)
                    print(f"  {payments} payments, {kills} kills, webhooks cut off for {outage_s:.0f} s"
                          f" (the retry window is {window_s:.0f} s)", flush=True)  # fmt: skip
                    faults = asyncio.create_task(
                        faults_during(storm, payments, kills, outage_s, timeline)
                    )
                    await storm.serve(plan, concurrency)
                    storm_s = time.monotonic() - started
                    timeline.note("every customer served, every refund and dispute answer made")
                    await faults
                    reconciled = await asyncio.to_thread(reconcile, paydesk)
                    timeline.note(f"paydesk reconcile: {reconciled}")
                    webhooks = await deliveries_settled(storm, window_s + 30)
                    timeline.note("the sandbox has delivered or given up every webhook")
                    held = await asyncio.to_thread(pending_mail, db)
                    drained_s = await outbox_drained(db, DRAIN_WITHIN_S)
                    timeline.note(f"the outbox is drained ({held} mail(s) were still pending)")
                    result: dict[str, Any] = {}
                    for looks in range(1, 4):  # the last deliveries and mail may still be landing
                        record = await asyncio.to_thread(read_paydesk, db)
                        amounts = {p["id"]: int(p["amount"]) for p in record["payments"]}
                        truth = await sandbox_truth(http, sandbox.base, amounts)
                        result = compare(record, truth, inbox)
                        result["looks"] = looks
                        if not result["payments_wrong"] and not result["mails_lost"]:
                            break
                        await asyncio.sleep(5)
                    timeline.note(f"compared with the sandbox (look {looks})")
                    by_status = Counter(t.status for t in truth.values())
            finally:
                paydesk.stop()
            result["integrity_check"] = integrity(db)
            result["paydesk_log_errors"] = log_errors(work / "paydesk.log")
            result["sandbox_log_errors"] = log_errors(sandbox.log_path)
            result["paydesk_events"] = {"from webhooks or reconcile (evt_)": record["events"].get("evt_", 0),
                                        "observed through the API (obs_)": record["events"].get("obs_", 0)}  # fmt: skip
    finally:
        procs.stop_all()
        smtp.stop()
    result.update({
        "settings": {"payments": payments, "kills": kills, "seed": seed, "time_scale": time_scale,
                     "concurrency": concurrency, "retry_window_s": round(window_s, 1),
                     "outage_s": round(outage_s, 1)},
        "storm_s": round(storm_s, 1), "total_s": round(time.monotonic() - started, 1),
        "customers": dict(storm.outcomes), "expected_statuses": dict(by_status),
        "sandbox_webhooks": webhooks, "reconcile": reconciled, "timeline": timeline.lines,
        "kills_at_s": [round(at - started, 1) for at in paydesk.kills],
        "mail_pending_after_recovery": held, "mail_drained_after_s": round(drained_s, 1),
    })  # fmt: skip
    return result


FAILURES = ("payments_wrong", "event_ids_stored_twice", "refunds_applied_twice", "mails_lost",
            "outbox_rows_twice", "smtp_same_message_twice", "smtp_unknown_messages")  # fmt: skip


def failed(result: dict[str, Any]) -> list[str]:
    """What is not 0 (or ok); and a run that did not do what it claims cannot pass either."""
    found = [name for name in FAILURES if result[name]]
    if result["integrity_check"] != "ok":
        found.append("integrity_check")
    settings = result["settings"]
    if result["payments"] < settings["payments"]:
        found.append("fewer payments in paydesk than checkouts started")
    if len(result["kills_at_s"]) < settings["kills"]:
        found.append("fewer kills than asked for")
    if result["sandbox_log_errors"]:
        found.append("the sandbox logged errors: its truth is not to be trusted (see sandbox.log)")
    if not result["sandbox_webhooks"]["gave_up"]:
        found.append("no webhook failed past its retries: the outage was no outage")
    return found


def render(result: dict[str, Any]) -> str:
    rows = [{"figure": name, "value": result[name]} for name in (
        "payments", "payments_wrong", "event_ids_stored_twice", "refunds_applied_twice",
        "mail_expected", "mail_rows", "mails_lost", "mail_missing_from_outbox", "mail_not_sent",
        "mail_sent_never_arrived", "outbox_rows_twice", "smtp_messages", "smtp_same_message_twice",
        "smtp_unknown_messages", "integrity_check")]  # fmt: skip
    text = [table("Fault run: paydesk against the sandbox's truth", rows, ("figure", "value"))]
    text.append(f"settings: {result['settings']}")
    text.append(f"storm {result['storm_s']} s, whole run {result['total_s']} s")
    text.append(f"customers: {result['customers']}")
    text.append(f"statuses per the sandbox: {result['expected_statuses']}")
    text.append(f"sandbox webhooks: {result['sandbox_webhooks']}")
    text.append(f"paydesk's events: {result['paydesk_events']}")
    text.append(f"reconcile: {result['reconcile']}")
    text.append(f"errors logged: paydesk {result['paydesk_log_errors']},"
                f" sandbox {result['sandbox_log_errors']}")  # fmt: skip
    text.append(f"mail pending once recovery was over: {result['mail_pending_after_recovery']},"
                f" all sent {result['mail_drained_after_s']} s later")  # fmt: skip
    text.extend(f"wrong: {line}" for line in result["wrong_examples"])
    text.extend(f"mail missing: {key}" for key in result["mail_missing_examples"])
    problems = failed(result)
    text.append(
        "RESULT: " + ("all 0, integrity ok" if not problems else "FAILED: " + ", ".join(problems))
    )
    return "\n".join(text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--payments", type=int, default=500, help="checkouts to start")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs during the storm")
    parser.add_argument(
        "--seed", type=int, default=7, help="seed of the customers and the sandbox's delivery"
    )
    parser.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE,
                        help="the sandbox's clock: sets how long Stripe's 3 days of retries take")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="customers at once")
    args = parser.parse_args(argv)
    proc.raise_open_files()
    result = asyncio.run(
        run(args.payments, args.kills, args.seed, args.time_scale, args.concurrency)
    )
    result["machine"] = proc.machine()
    print(render(result))
    print(f"saved {save('faults', result)}")
    if failed(result):
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
