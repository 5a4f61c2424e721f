"""The notification sender: one background task that renders, signs and delivers due notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from ..catalog import Catalog
from ..clock import now_ms
from ..db import Database, DatabaseError
from ..worker_task import WorkerTask
from . import outbox
from .outbox import MAX_ANSWER, Attempt, Due, Queued, Render
from .settings import NotifySettings, NotifySettingsError
from .signing import HEADER, signature

log = logging.getLogger(__name__)

IDLE_S = 30.0  # the longest sleep with nothing due: picks up what another process queued
BATCH = 16  # attempts in flight at once, each to a different payment or destination
LEASE_MARGIN_S = 5.0  # a claim outlasts an attempt's timeout by this much
DB_ERROR_PAUSE_S = 5.0


def renderer(catalog: Catalog, settings: NotifySettings) -> Render:
    """The body of a notification and its destinations: the product's notify_url, else NOTIFY_URLS.

    Nothing goes anywhere without NOTIFY_SECRET: an unsigned notification is not sent.
    """

    def render(queued: Queued) -> tuple[bytes, tuple[str, ...]]:
        payment = dict(queued.data["payment"])
        product = catalog.get(payment["product"]["id"])
        payment["metadata"] = dict(product.metadata) if product else {}
        body: dict[str, Any] = {
            "id": queued.id,
            "type": queued.type,
            "created": queued.created_at // 1000,
            "payment": payment,
        }
        body.update({k: v for k, v in queued.data.items() if k != "payment"})
        if not settings.enabled:
            urls: tuple[str, ...] = ()
        elif product and product.notify_url:
            urls = (product.notify_url,)
        else:
            urls = settings.urls
        return orjson.dumps(body), urls

    return render


class Notifier:
    """Delivers notifications. `wake()` after a commit; otherwise it sleeps until one is due."""

    def __init__(
        self,
        db: Database,
        settings: NotifySettings,
        render: Render,
        session: aiohttp.ClientSession,
        *,
        idle_s: float = IDLE_S,
        batch: int = BATCH,
    ) -> None:
        self._db = db
        self._settings = settings
        self._render = render
        self._session = session
        self._idle_s = idle_s
        self._batch = batch
        self._wake = asyncio.Event()
        self._task = WorkerTask("notification sender", "notifications wait until paydesk restarts")

    def wake(self) -> None:
        """Look now: a commit may have queued a notification or asked for a redelivery."""
        self._wake.set()

    def start(self) -> None:
        self._task.start(self._run())

    async def stop(self) -> None:
        """Cancel the task; an attempt cut short is claimed again once its claim lapses."""
        await self._task.stop()

    async def deliver_due(self) -> int:
        """Render what is new, then make one attempt at each due delivery; how many it took."""
        retry_for_ms = int(self._settings.retry_for_s * 1000)
        rendered = await self._db.write(
            lambda conn: outbox.fan_out(conn, self._render, retry_for_ms)
        )
        lease_ms = int((self._settings.timeout_s + LEASE_MARGIN_S) * 1000)
        due = await self._db.write(lambda conn: outbox.claim_due(conn, lease_ms, self._batch))
        if due:
            await asyncio.gather(*(self._deliver(d) for d in due))
        return max(len(due), rendered)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: a wake() during the batch is not lost
            try:
                handled = await self.deliver_due()
                pause = 0.0 if handled else await self._until_next_due()
            except DatabaseError as exc:
                # One line, not a traceback, each time while it lasts: what fails here is the
                # database (restarting, unreachable, its disk full), and its message says how.
                log.warning(
                    "notifications: database error (%s); trying again in %s s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    DB_ERROR_PAUSE_S,
                )
                pause = DB_ERROR_PAUSE_S
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

    async def _until_next_due(self) -> float:
        if await outbox.unrendered(self._db):
            return 0.0
        due_at = await outbox.next_due_at(self._db)
        if due_at is None:
            return self._idle_s
        return min(self._idle_s, max(0.0, (due_at - now_ms()) / 1000))

    async def _deliver(self, due: Due) -> None:
        attempt = await self._attempt(due)
        base_ms = int(self._settings.retry_base_s * 1000)
        status = await self._db.write(lambda conn: outbox.record(conn, due, attempt, base_ms))
        if status == outbox.FAILED:
            log.error(
                "notification %s to %s given up after %d attempts: %s",
                due.notification_id, due.url, due.attempts + 1, attempt.answer[:200],
            )  # fmt: skip
        elif status == outbox.PENDING:
            log.warning(
                "notification %s to %s failed (attempt %d), retried later: %s",
                due.notification_id, due.url, due.attempts + 1,
                attempt.status_code or attempt.answer[:200],
            )  # fmt: skip

    async def _attempt(self, due: Due) -> Attempt:
        started = now_ms()
        loop = asyncio.get_running_loop()
        clock = loop.time()
        headers = {
            "Content-Type": "application/json",
            HEADER: signature(self._settings.secret, started // 1000, due.body),
            "Idempotency-Key": due.notification_id,
            "User-Agent": "paydesk-notifications",
        }
        status: int | None = None
        try:
            async with self._session.post(
                due.url,
                data=due.body,
                headers=headers,
                allow_redirects=False,  # a redirect is an answer to fix, not to follow with the body
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
            ) as response:
                status = response.status
                answer = (await response.content.read(MAX_ANSWER)).decode("utf-8", "replace")
        except TimeoutError:
            answer = f"no answer within {self._settings.timeout_s:g} s"
        except aiohttp.ClientError as exc:
            answer = f"{type(exc).__name__}: {exc}" if status is None else f"answer cut off: {exc}"
        elapsed_ms = int((loop.time() - clock) * 1000)
        return Attempt(started, elapsed_ms, status, answer.strip())


@contextlib.asynccontextmanager
async def running_notifier(
    db: Database, settings: NotifySettings, catalog: Catalog, **options: Any
) -> AsyncIterator[Notifier]:
    """A started Notifier with its own HTTP client, for as long as the block runs."""
    named = [p.id for p in catalog.products if p.notify_url]
    if named and not settings.enabled:
        raise NotifySettingsError(
            f"NOTIFY_SECRET: required because the catalog gives product {named[0]!r} a"
            " notify_url; notifications are always signed"
        )
    connector = aiohttp.TCPConnector(limit=BATCH * 2)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
        notifier = Notifier(db, settings, renderer(catalog, settings), session, **options)
        notifier.start()
        try:
            yield notifier
        finally:
            await notifier.stop()
