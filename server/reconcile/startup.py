"""The catch-up paydesk runs by itself after it starts, when Stripe's events may have been missed while it was down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import stripe

from ..clock import utc_second
from ..db import Database
from ..webhooks import WebhookProcessor
from . import ReconcileFailed, Window, choose_window, list_events
from .apply import OUTCOMES, Applied, apply_listing, last_stripe_event_at

log = logging.getLogger(__name__)

# The last event from Stripe older than this when paydesk starts: webhooks may have failed past
# Stripe's retries while it was down, so it asks the Events API as `paydesk reconcile` does.
CATCH_UP_AFTER_S = 5 * 60
# The first look waits this long, so the server is listening before Stripe is asked (in test
# mode the sandbox is served by this very process).
FIRST_LOOK_DELAY_S = 1.0
# Stripe unreachable at start: asked again after each of these, then left to `paydesk reconcile`.
RETRY_WAITS_S = (30.0, 120.0, 600.0)

# Opens a Stripe client for the one catch-up and closes it after.
OpenClient = Callable[[], AbstractAsyncContextManager[stripe.StripeClient]]


@dataclass(frozen=True)
class CatchUp:
    """What one start-up catch-up asked for and what it did."""

    window: Window
    listed: int
    counts: Counter[str]
    capped_at: int | None

    def summary(self) -> str:
        return f"{self.listed} event(s) from Stripe: " + ", ".join(
            f"{self.counts[outcome]} {outcome}" for outcome in OUTCOMES
        )


async def catch_up_if_stale(
    db: Database,
    processor: WebhookProcessor,
    open_client: OpenClient,
    *,
    started_at_ms: int,
    stale_after_s: float = CATCH_UP_AFTER_S,
    retry_waits_s: tuple[float, ...] = RETRY_WAITS_S,
) -> CatchUp | None:
    """Catch up on Stripe's events when the last one came more than `stale_after_s` ago, or
    none ever came for payments made before paydesk started (at `started_at_ms`).

    None when nothing was due (a fresh install, or events arriving), or Stripe could not be asked.
    """
    now_s = int(time.time())
    last_at = await last_stripe_event_at(db)
    if last_at is None:
        # Only payments from before this start count: one made since is being paid now, and its
        # webhooks are on their way.
        older = await db.fetch_one(
            "SELECT 1 FROM payments WHERE created_at < ? LIMIT 1", (started_at_ms,)
        )
        if older is None:
            return None  # a fresh install: nothing can have happened at Stripe yet
        why = "no event from Stripe has arrived yet"
    elif now_s - last_at / 1000 < stale_after_s:
        return None
    else:
        why = f"the last event from Stripe arrived at {utc_second(last_at)}"
    window = choose_window(now_s, None, last_at)
    # A quiet shop restarted is no news: only what the catch-up changes is a warning.
    log.info(
        "%s: catching up on Stripe's events created since %s",
        why,
        utc_second(window.since_at_s * 1000),
    )
    for wait_s in (*retry_waits_s, None):
        try:
            return await _catch_up(db, processor, open_client, window)
        except ReconcileFailed as exc:
            if wait_s is None:
                log.error(
                    "start-up catch-up gave up: %s; run `paydesk reconcile` when Stripe answers",
                    exc,
                )
                return None
            log.warning("start-up catch-up: %s; trying again in %.0f s", exc, wait_s)
            await asyncio.sleep(wait_s)
    raise AssertionError("unreachable: the last try returns")


async def _catch_up(
    db: Database, processor: WebhookProcessor, open_client: OpenClient, window: Window
) -> CatchUp:
    async with open_client() as client:
        listing = await list_events(client, window.since_at_s)
    counts = await apply_listing(db, processor, listing, _log_applied)
    done = CatchUp(window, len(listing.events), counts, listing.capped_at)
    level = logging.WARNING if counts["applied"] or counts["deferred"] else logging.INFO
    log.log(level, "start-up catch-up: %s", done.summary())
    if counts["deferred"]:
        log.warning(
            "start-up catch-up: %d event(s) could not be applied yet; their webhooks or"
            " `paydesk reconcile` apply them later",
            counts["deferred"],
        )
    if listing.capped_at:
        log.error(
            "start-up catch-up stopped after %d events; run `paydesk reconcile --since` with a"
            " shorter window to fetch the rest",
            listing.capped_at,
        )
    return done


def _log_applied(applied: Applied) -> None:
    log.info("start-up catch-up: %s", applied.line())


async def catch_up_after_start(
    db: Database, processor: WebhookProcessor, open_client: OpenClient
) -> None:
    """The background task: one look shortly after start, the catch-up when it is due."""
    started_at_ms = int(time.time() * 1000)
    await asyncio.sleep(FIRST_LOOK_DELAY_S)
    try:
        # Several processes on one database start together: one catches up, the others skip.
        async with db.exclusive("start-up catch-up") as ours:
            if ours:
                await catch_up_if_stale(db, processor, open_client, started_at_ms=started_at_ms)
    except Exception:
        # A background task's failure is logged here, or it would surface only at shutdown.
        log.exception("start-up catch-up failed; run `paydesk reconcile`")
