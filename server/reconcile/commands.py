"""The `paydesk reconcile [--since DURATION]` command: apply the listed events as webhooks are, and report."""

from __future__ import annotations

import sys
import time

from ..clock import utc_second
from ..config import Config
from ..database_file import migrated_database
from ..mail.sender import DEFAULT_IDLE
from ..payment_events import PaymentEvents
from ..payments import get_payment
from ..stripe_gateway import StripeGateway, open_stripe_client
from ..webhooks import WebhookProcessor
from . import ReconcileFailed, choose_window, list_events
from .apply import OUTCOMES, apply_listing, last_stripe_event_at


async def run_reconcile(config: Config, since_s: int | None) -> int:
    """Fetch, apply and report; the exit status (1: Stripe could not be asked)."""
    async with migrated_database(config.database) as db:
        window = choose_window(int(time.time()), since_s, await last_stripe_event_at(db))
        print(f"Events created since {utc_second(window.since_at_s * 1000)} ({window.why}).")
        async with open_stripe_client(config) as client:
            try:
                listing = await list_events(client, window.since_at_s)
            except ReconcileFailed as exc:
                print(f"reconcile: {exc}; nothing was applied", file=sys.stderr)
                return 1
            # This process has no status pages or mail sender: the running paydesk's mail
            # sender finds queued mail on its own, and its pages read the rows as they load.
            events = PaymentEvents(lambda payment_id: get_payment(db, payment_id))
            gateway = StripeGateway(client)
            processor = WebhookProcessor(db, gateway.payment_id_for_intent, events)
            counts = await apply_listing(
                db, processor, listing, lambda applied: print(applied.line())
            )
    print(
        f"{len(listing.events)} event(s) from Stripe: "
        + ", ".join(f"{counts[outcome]} {outcome}" for outcome in OUTCOMES)
        + "."
    )
    if counts["applied"]:
        print(f"A running paydesk sends any mail this queued within {DEFAULT_IDLE:.0f} s.")
    if counts["deferred"]:
        print("Deferred events could not be applied yet: run reconcile again in a few minutes.")
    if listing.capped_at:
        print(
            f"reconcile: stopped after {listing.capped_at} events; those were applied, but older events"
            " in the window were not fetched",
            file=sys.stderr,
        )
        return 1
    return 0
