"""Payment changes committed by any paydesk process, heard from PostgreSQL and shown in this one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg

from .clock import now_ms
from .payment_events import PaymentEvents

log = logging.getLogger(__name__)

# The schema's trigger on `payments` sends '<payment id>:<version>' here when a change commits.
CHANNEL = "paydesk_payments"
APPLICATION_NAME = "paydesk change feed"  # how its connection shows in pg_stat_activity
CONNECT_TIMEOUT_S = 10.0
# A connection can die without a word (a NAT or a firewall forgets it): a ping that gets no answer
# in time counts as the connection lost.
PING_EVERY_S = 5.0
PING_TIMEOUT_S = 5.0
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
# After a reconnect, every change stamped since the feed was last known to be listening is read
# again, less this margin: a change is stamped before its transaction commits, and the clocks of
# processes on other hosts may run behind ours. Versions already shown are dropped, not shown twice.
CATCH_UP_MARGIN_MS = 10_000
READS_AT_ONCE = 32  # snapshots read together when a burst of changes arrives


class ChangeFeed:
    """One connection LISTENing for committed payment changes, handed to PaymentEvents.

    Reconnects lose nothing: after each reconnect, the payments changed since the feed was last
    known to be listening are read again (PaymentEvents shows each version once).
    """

    def __init__(
        self,
        dsn: str,
        events: PaymentEvents,
        *,
        ping_every_s: float = PING_EVERY_S,
        ping_timeout_s: float = PING_TIMEOUT_S,
        retry_first_s: float = RETRY_FIRST_S,
    ) -> None:
        self._dsn = dsn
        self._events = events
        self._ping_every_s = ping_every_s
        self._ping_timeout_s = ping_timeout_s
        self._retry_first_s = retry_first_s
        self._pending: dict[str, int] = {}  # payment id -> newest version heard, not shown yet
        self._heard = asyncio.Event()
        self._listening = asyncio.Event()
        self._alive_at: int | None = None  # ms: when the feed was last known to be listening
        self._tasks: list[asyncio.Task[None]] = []
        self.reconnects = 0

    async def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Start listening, and return once the first LISTEN is in place (so a page that opens
        from now on misses no change); raises TimeoutError when PostgreSQL does not answer."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._show())]
        try:
            async with asyncio.timeout(timeout_s):
                await self._listening.wait()
        except TimeoutError:
            await self.stop()
            raise

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _listen(self) -> None:
        delay = self._retry_first_s
        while True:
            started = time.monotonic()
            try:
                await self._listen_once()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                why = str(exc) or "no answer in time"
                log.warning("change feed: connection to PostgreSQL lost or refused: %s", why)
            self._listening.clear()
            if time.monotonic() - started > 4 * RETRY_MAX_S:
                delay = self._retry_first_s  # it was up a good while: this is a new trouble
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            self.reconnects += 1

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            listening_at = now_ms()
            await conn.add_listener(CHANNEL, self._on_notify)
            if self._alive_at is not None:
                await self._catch_up(conn, self._alive_at - CATCH_UP_MARGIN_MS)
            self._alive_at = listening_at
            self._listening.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._ping_every_s):
                        await lost.wait()
                if lost.is_set():
                    break
                pinged_at = now_ms()
                async with asyncio.timeout(self._ping_timeout_s):
                    await conn.fetchval("SELECT 1")
                self._alive_at = pinged_at
            log.warning("change feed: the connection to PostgreSQL was closed")
        finally:
            conn.terminate()  # never waits: the connection may be dead

    async def _catch_up(self, conn: Any, since_ms: int) -> None:
        """Hear again every change stamped at or after `since_ms` (missed while disconnected)."""
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            rows = await conn.fetch(
                "SELECT id, version FROM payments WHERE updated_at >= $1", since_ms
            )
        for row in rows:
            self._hear(row["id"], row["version"])
        log.info(
            "change feed: listening again; %d changes since the connection was lost", len(rows)
        )

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        payment_id, _, version = payload.rpartition(":")
        if not payment_id or not version.isdigit():
            log.warning("change feed: not a payment change: %r", payload[:100])
            return
        self._hear(payment_id, int(version))

    def _hear(self, payment_id: str, version: int) -> None:
        # Asked at once: a change nobody here watches costs no read and no queue.
        if self._events.wants(payment_id, version):
            self._pending[payment_id] = max(version, self._pending.get(payment_id, 0))
            self._heard.set()

    async def _show(self) -> None:
        while True:
            await self._heard.wait()
            self._heard.clear()
            heard, self._pending = self._pending, {}
            changes = list(heard.items())
            for start in range(0, len(changes), READS_AT_ONCE):
                shown = await asyncio.gather(
                    *(
                        self._events.announced(pid, v)
                        for pid, v in changes[start : start + READS_AT_ONCE]
                    ),
                    return_exceptions=True,
                )
                for outcome in shown:
                    if isinstance(outcome, Exception):
                        log.warning("change feed: could not read a changed payment: %s", outcome)
