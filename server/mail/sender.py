"""The mail sender: one background task that delivers due outbox rows and records each outcome."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable
from typing import TypeVar

from ..clock import now_ms
from ..db import Database, DatabaseError
from ..pacing import BackgroundPacer
from ..payments import Payment, get_payment
from ..worker_task import WorkerTask
from . import outbox
from .compose import CannotCompose, Composer
from .messages import awaits_payment_method
from .outbox import OutboxRow, Rendered
from .retry import RetryPolicy
from .transport import DeliveryError, Transport

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_IDLE = 30.0  # the longest sleep with nothing due: picks up rows queued by another process
DEFAULT_BATCH = 20  # messages sent over one SMTP connection before looking at the outbox again
DB_ERROR_PAUSE = 5.0
# A receipt queued before the charge that says how the customer paid (Stripe's events arrive in
# any order) waits for it: looked at again this often, and sent without it after the limit.
HOLD_RECHECK = 2.0
HOLD_LIMIT = 60.0


class MailSender:
    """Delivers the outbox. `wake()` after a commit that queued mail; otherwise it sleeps until
    the next row is due (at most `idle` seconds)."""

    def __init__(
        self,
        db: Database,
        composer: Composer,
        transport: Transport,
        *,
        policy: RetryPolicy | None = None,
        idle: float = DEFAULT_IDLE,
        batch_size: int = DEFAULT_BATCH,
        rng: random.Random | None = None,
        pacer: BackgroundPacer | None = None,
        hold_recheck: float = HOLD_RECHECK,
        hold_limit: float = HOLD_LIMIT,
    ) -> None:
        self._db = db
        self._composer = composer
        self._transport = transport
        self._policy = policy or RetryPolicy()
        self._idle = idle
        self._batch_size = batch_size
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._pacer = pacer  # None: no requests to make way for (commands, tests)
        self._wake = asyncio.Event()
        self._task = WorkerTask("mail sender", "mail waits until paydesk restarts")
        self.failed_attempts = 0  # since start: every delivery attempt the server did not take
        self._claimed: set[int] = set()  # rows of the batch in hand not yet marked
        self._hold_recheck_ms = int(hold_recheck * 1000)
        self._hold_limit_ms = int(hold_limit * 1000)
        # Rows this sender holds for their charge: outbox id -> the row. After a commit (wake)
        # those whose charge has come are due at once, not at their next look.
        self._held: dict[int, OutboxRow] = {}

    def wake(self) -> None:
        """Look at the outbox now: new mail was committed."""
        self._wake.set()

    async def start(self) -> None:
        self._task.start(self._run())

    async def stop(self) -> None:
        """Cancel the task. A message mid-send stays pending; a mark already begun completes."""
        await self._task.stop()

    async def deliver_due(self) -> int:
        """Send one batch of due messages over one connection; returns how many rows it took.

        The rows are claimed first (other processes skip them); those the batch did not settle
        (the connection was lost, or the sender is stopping) are released, due again at once.
        """
        if self._held:
            await self._release_held()
        rows = await outbox.claim_due(self._db, now_ms(), self._batch_size)
        self._claimed = {row.id for row in rows}
        try:
            ready: list[tuple[OutboxRow, Rendered]] = []
            for row in rows:
                rendered = row.rendered or await self._render(row)
                if rendered is not None:
                    ready.append((row, rendered))
            if ready:
                await self._deliver(ready)
        finally:
            if self._claimed:
                await _settle(outbox.release(self._db, self._claimed, now_ms()))
            self._claimed = set()
        return len(rows)

    async def _run(self) -> None:
        while True:
            # Cleared before reading the outbox: a wake() during the batch is not lost.
            self._wake.clear()
            try:
                handled = await self.deliver_due()
            except DatabaseError:
                log.exception("mail sender: database error; trying again in %s s", DB_ERROR_PAUSE)
                await self._sleep(DB_ERROR_PAUSE)
                continue
            if handled < self._batch_size:  # a full batch: more may be due right now
                await self._sleep(await self._until_next_due())

    async def _render(self, row: OutboxRow) -> Rendered | None:
        """Render once and store it: every later attempt sends exactly this text."""
        payment = await get_payment(self._db, row.payment_id)
        if payment is not None and await self._hold(row, payment):
            return None
        started = time.perf_counter()
        try:
            if payment is None:
                raise CannotCompose(f"payment {row.payment_id} not found")
            rendered = self._composer.compose(row, payment)
        except CannotCompose as exc:
            log.error("mail %s (%s) cannot be built, marked failed: %s", row.id, row.kind, exc)
            await _settle(outbox.mark_failed(self._db, row.id, str(exc), attempted=False))
            self._claimed.discard(row.id)
            return None
        composing = time.perf_counter() - started  # the costly part of mail: ~2 ms of the loop
        stored = await _settle(outbox.store_rendered(self._db, row.id, rendered))
        if self._pacer is not None:
            await self._pacer.after_step(composing)
        return stored

    def _waits(self, row: OutboxRow, payment: Payment, now: int) -> bool:
        """Whether the row should wait longer for the charge before it is rendered."""
        if outbox.RESEND_MARK in row.dedupe_key:  # a copy: the original had its wait
            return False
        return now < row.created_at + self._hold_limit_ms and awaits_payment_method(
            row.kind, payment
        )

    async def _hold(self, row: OutboxRow, payment: Payment) -> bool:
        """Put the row back for a while if its charge is not in yet; no attempt is counted."""
        now = now_ms()
        if not self._waits(row, payment, now):
            self._held.pop(row.id, None)
            return False
        if row.id not in self._held:
            log.info(
                "mail %s (%s) waits for the charge that says how it was paid", row.id, row.kind
            )
        due_at = min(now + self._hold_recheck_ms, row.created_at + self._hold_limit_ms)
        await _settle(outbox.postpone(self._db, row.id, due_at))
        self._claimed.discard(row.id)
        self._held[row.id] = row
        return True

    async def _release_held(self) -> None:
        """Held rows whose charge has come (or whose wait is over) are due now."""
        now = now_ms()
        for row in list(self._held.values()):
            payment = await get_payment(self._db, row.payment_id)
            if payment is not None and self._waits(row, payment, now):
                continue
            # Rendered meanwhile, or claimed by a sender (its lease runs past any hold): left be.
            del self._held[row.id]
            held_until = row.created_at + self._hold_limit_ms
            await _settle(outbox.postpone(self._db, row.id, now, if_due_by=held_until))

    async def _deliver(self, ready: list[tuple[OutboxRow, Rendered]]) -> None:
        try:
            session = await self._transport.open()
        except DeliveryError as exc:
            log.warning("mail: %s; %d message(s) wait for a retry", exc, len(ready))
            for row, _ in ready:
                await self._failed(row, exc)
            return
        finished = False
        try:
            for row, rendered in ready:
                try:
                    note = await session.send(rendered, row.id, row.kind)
                except DeliveryError as exc:
                    await self._failed(row, exc)
                    if exc.connection_lost:
                        return  # the rest stay due; the next batch opens a new connection
                    continue
                await _settle(outbox.mark_sent(self._db, row.id, note))
                self._claimed.discard(row.id)
                log.info("sent mail %s (%s)", row.id, row.kind)
            finished = True
        finally:
            if finished:
                await session.close()
            else:
                session.abort()  # cancelled or cut off: no goodbye to wait for

    async def _failed(self, row: OutboxRow, error: DeliveryError) -> None:
        self.failed_attempts += 1
        self._claimed.discard(row.id)  # marked below: failed, or due again at its retry time
        attempts = row.attempts + 1
        if error.permanent:
            log.warning("mail %s (%s) refused, marked failed: %s", row.id, row.kind, error)
            await _settle(outbox.mark_failed(self._db, row.id, error.reason))
        elif self._policy.gives_up(row.created_at, now_ms()):
            log.error(
                "mail %s (%s) undelivered after %d attempts, marked failed",
                row.id,
                row.kind,
                attempts,
            )
            reason = f"gave up after {attempts} attempts: {error.reason}"
            await _settle(outbox.mark_failed(self._db, row.id, reason))
        else:
            delay = self._policy.delay(attempts, self._rng)
            log.info(
                "mail %s (%s) not delivered (%s); retry in %.0f s", row.id, row.kind, error, delay
            )
            next_at = now_ms() + int(delay * 1000)
            await _settle(outbox.mark_retry(self._db, row.id, error.reason, next_at))

    async def _until_next_due(self) -> float:
        due_at = await outbox.next_due_at(self._db)
        if due_at is None:
            return self._idle
        return min(max((due_at - now_ms()) / 1000, 0.0), self._idle)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass


async def _settle(write: Awaitable[T]) -> T:
    """Finish a write even when the sender is cancelled meanwhile: a message that was sent is
    marked sent before the task stops, and no write is left running while the database closes."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
