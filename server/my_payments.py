"""'My payments' for customers: one-time sign-in links by mail, short sessions, one email's payments."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Protocol

from .clock import now_ms
from .db import Connection, Database
from .mail.outbox import Rendered
from .mail.transport import DeliveryError, Transport
from .payments import Payment
from .shared_limits import SharedRateLimiter, acquire_all

log = logging.getLogger(__name__)

LINK_TTL_MS = 30 * 60 * 1000  # a sign-in link works for 30 minutes, once
SESSION_TTL_MS = 60 * 60 * 1000  # the page it opens stays signed in for an hour
MAX_EMAIL_LENGTH = 254
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
MAX_LISTED = 100  # payments on the page, newest first
# Links asked for: per address (so nobody's inbox is flooded) and per client (so one client
# cannot mail many addresses), an hour's worth: counted in this process over a sliding hour, or,
# with several processes (PostgreSQL), in the database as buckets refilled over the hour.
PER_ADDRESS = 3
PER_CLIENT = 10
WINDOW_S = 60 * 60.0
MAX_TRACKED = 50_000
# Sending a link: a few tries with pauses in between, then the customer asks again.
SEND_ATTEMPTS = 3
SEND_PAUSE_S = 2.0
QUEUE_SIZE = 200


class InvalidEmail(ValueError):
    """Not an email address a link can be sent to; the message says what to type."""


class LinkProblem(Exception):
    """The sign-in link cannot open the page: `reason` is used, expired or unknown."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TooManyLinks(Exception):
    """Too many links were asked for lately, for this address or from this client."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("Too many sign-in links were asked for. Try again later.")
        self.retry_after_s = retry_after_s


def checked_email(text: str) -> str:
    email = text.strip()
    if not email:
        raise InvalidEmail("Enter the email address you paid with.")
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL.match(email):
        raise InvalidEmail("Enter an email address like name@example.com.")
    return email


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return bool(TOKEN.match(token))


async def issue_link(db: Database, email: str) -> str:
    """A new one-time token for `email`; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    stamp = now_ms()

    def work(conn: Connection) -> None:
        conn.execute("DELETE FROM customer_links WHERE expires_at < ?", (stamp - LINK_TTL_MS,))
        conn.execute(
            "INSERT INTO customer_links (token_hash, email, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (_digest(token), email, stamp, stamp + LINK_TTL_MS),
        )

    await db.write(work)
    return token


async def check_link(db: Database, token: str) -> None:
    """Raise LinkProblem unless `token` is a link that still opens the page (nothing is used)."""
    row = None
    if well_formed(token):
        row = await db.fetch_one(
            "SELECT used_at, expires_at FROM customer_links WHERE token_hash = ?", (_digest(token),)
        )
    _problem(row, now_ms())


def _problem(row: object, stamp: int) -> None:
    if row is None:
        raise LinkProblem("unknown", "This sign-in link is not one of ours, or it is incomplete.")
    if row["used_at"] is not None:  # type: ignore[index]
        raise LinkProblem("used", "This sign-in link was already used: each link works once.")
    if row["expires_at"] <= stamp:  # type: ignore[index]
        raise LinkProblem("expired", "This sign-in link has expired: links work for 30 minutes.")


async def redeem_link(db: Database, token: str) -> str:
    """Use the link (once) and open a session for its email; returns the session's token."""
    if not well_formed(token):
        raise LinkProblem("unknown", "This sign-in link is not one of ours, or it is incomplete.")
    session = secrets.token_urlsafe(32)

    def work(conn: Connection) -> None:
        stamp = now_ms()
        row = conn.execute(
            "SELECT email, used_at, expires_at FROM customer_links WHERE token_hash = ?",
            (_digest(token),),
        ).fetchone()
        _problem(row, stamp)
        conn.execute(
            "UPDATE customer_links SET used_at = ? WHERE token_hash = ?", (stamp, _digest(token))
        )
        conn.execute("DELETE FROM customer_sessions WHERE expires_at < ?", (stamp,))
        conn.execute(
            "INSERT INTO customer_sessions (token_hash, email, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (_digest(session), row["email"], stamp, stamp + SESSION_TTL_MS),
        )

    await db.write(work)
    return session


async def session_email(db: Database, token: str) -> str | None:
    """The email a live session was opened for, or None."""
    if not well_formed(token):
        return None
    row = await db.fetch_one(
        "SELECT email FROM customer_sessions WHERE token_hash = ? AND expires_at > ?",
        (_digest(token), now_ms()),
    )
    return None if row is None else str(row["email"])


async def end_session(db: Database, token: str) -> None:
    if well_formed(token):
        digest = _digest(token)
        await db.write(
            lambda conn: conn.execute(
                "DELETE FROM customer_sessions WHERE token_hash = ?", (digest,)
            )
        )


async def payments_of(db: Database, email: str) -> list[Payment]:
    """That email's payments, newest first; the address compared without case."""
    rows = await db.fetch_all(
        "SELECT * FROM payments WHERE customer_email = ? COLLATE NOCASE"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        (email, MAX_LISTED),
    )
    return [Payment.from_row(row) for row in rows]


class SlidingLimit:
    """At most `limit` events per key in the last `window_s` seconds, in this process."""

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit, self.window_s = limit, window_s
        self._events: dict[str, deque[float]] = {}

    def wait_s(self, key: str, now: float) -> float:
        """0 when another event is allowed now, else the seconds until one is."""
        events = self._events.get(key)
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events or len(events) < self.limit:
            return 0.0
        return events[0] + self.window_s - now

    def note(self, key: str, now: float) -> None:
        if len(self._events) >= MAX_TRACKED:
            self._events = {
                k: v for k, v in self._events.items() if v and v[-1] > now - self.window_s
            }
        self._events.setdefault(key, deque()).append(now)


class LinkLimits(Protocol):
    async def take(self, email: str, client: str) -> None:
        """Count a link asked for `email` by `client`, or raise TooManyLinks (counting nothing)."""


class SignInLimits:
    """Links per address and per client in this process; one check, counted only when both allow it."""

    def __init__(self, per_address: int = PER_ADDRESS, per_client: int = PER_CLIENT) -> None:
        self._address = SlidingLimit(per_address)
        self._client = SlidingLimit(per_client)

    async def take(self, email: str, client: str) -> None:
        now = time.monotonic()
        address = email.lower()
        wait = max(self._address.wait_s(address, now), self._client.wait_s(client, now))
        if wait > 0:
            raise TooManyLinks(max(1, int(wait) + 1))
        self._address.note(address, now)
        self._client.note(client, now)


class SharedSignInLimits:
    """The same limits for every process on one database: a bucket per address and per client,
    each holding an hour's allowance and refilled over the hour; both taken, or neither."""

    def __init__(
        self, db: Database, per_address: int = PER_ADDRESS, per_client: int = PER_CLIENT
    ) -> None:
        self._db = db
        self._address = SharedRateLimiter(
            db, "sign-in-link-address", per_address, period_s=WINDOW_S
        )
        self._client = SharedRateLimiter(db, "sign-in-link-client", per_client, period_s=WINDOW_S)

    async def take(self, email: str, client: str) -> None:
        # The address is kept as a digest: a limits table is no place for customers' addresses.
        address = _digest(email.lower())
        wait = await acquire_all(self._db, [(self._address, address), (self._client, client)])
        if wait > 0:
            raise TooManyLinks(max(1, int(wait) + 1))


def sign_in_limits(db: Database) -> LinkLimits:
    """In the database when several processes share it, else in this process's memory."""
    return SharedSignInLimits(db) if db.shared else SignInLimits()


@dataclass(frozen=True)
class LinkMail:
    to: str
    link: str


class SignInMailer:
    """Sends sign-in links from a queue of its own, through the mail transport, with a few retries.

    The outbox belongs to payments, so a link goes straight to the transport: a link lost to a
    crash or a mail server down for longer than the retries is asked for again by the customer.
    """

    def __init__(self, transport: Transport, sender: Address, shop_name: str) -> None:
        self._transport = transport
        self._sender = sender
        self._shop_name = shop_name
        self._queue: asyncio.Queue[LinkMail] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def offer(self, mail: LinkMail) -> bool:
        """Queue a link to send; False when the queue is full (the customer tries again)."""
        try:
            self._queue.put_nowait(mail)
        except asyncio.QueueFull:
            return False
        return True

    def message(self, mail: LinkMail) -> Rendered:
        message = EmailMessage(policy=SMTP)
        message["Subject"] = f"Your link to your payments at {self._shop_name}"
        message["From"] = self._sender
        message["To"] = mail.to
        message["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
        message_id = make_msgid(domain=self._sender.domain or "localhost")
        message["Message-ID"] = message_id
        message.set_content(
            f"Hello,\n\nOpen this link within 30 minutes to see your payments at "
            f"{self._shop_name}:\n\n{mail.link}\n\nThe link works once. If you did not ask for "
            "it, you can ignore this email: nobody can see your payments without it.\n"
        )
        return Rendered(
            message_id=message_id,
            subject=str(message["Subject"]),
            recipients=(mail.to,),
            message=message.as_string(),
        )

    async def _run(self) -> None:
        while True:
            mail = await self._queue.get()
            await self._send(mail)

    async def _send(self, mail: LinkMail) -> None:
        rendered = self.message(mail)
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                session = await self._transport.open()
                try:
                    await session.send(rendered, 0, "sign_in_link")
                finally:
                    await session.close()
            except DeliveryError as exc:
                if exc.permanent or attempt == SEND_ATTEMPTS:
                    log.warning("a sign-in link could not be sent: %s", exc)
                    return
                await asyncio.sleep(SEND_PAUSE_S * attempt)
            else:
                self.sent += 1
                return

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SignInMailer]:
        self._task = asyncio.create_task(self._run(), name="sign-in-mailer")
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass(frozen=True)
class MyPayments:
    """What the pages share: the sign-in limits and the link mailer."""

    limits: LinkLimits
    mailer: SignInMailer
