"""Which Stripe events `paydesk reconcile` catches up on: the window, and listing them from the Events API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import stripe

from ..lifecycle import HANDLED_TYPES

# Stripe's Events API keeps this much history; asking further back returns nothing more.
STRIPE_KEEPS_S = 30 * 24 * 60 * 60
# Stripe retries an undelivered event for up to three days, so the last webhook that arrived may be
# newer than events still waiting: the default window starts this long before it. An event asked
# for twice is a duplicate and changes nothing.
RETRY_MARGIN_S = 3 * 24 * 60 * 60
PAGE_SIZE = 100  # Stripe's largest page
TYPES_PER_REQUEST = 20  # Stripe refuses a longer types[] list
# A bound on one run's memory and calls: about 1,600 payments' worth of events.
MAX_EVENTS = 10_000
# The SDK does not retry a 429 (Stripe's rate limit); it is waited out here, doubling each time.
RATE_LIMIT_TRIES = 5
RATE_LIMIT_WAIT_S = 1.0

_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_UNIT_S = {"m": 60, "h": 60 * 60, "d": 24 * 60 * 60}


def parse_duration(text: str) -> int:
    """'90m', '12h', '3d' as seconds; ValueError says what is accepted."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text[:40]!r} is not a duration: write a whole number and m (minutes),"
            " h (hours) or d (days), e.g. 90m, 12h or 3d"
        )
    return int(match[1]) * _UNIT_S[match[2]]


@dataclass(frozen=True)
class Window:
    """From when events are asked for, and why from then."""

    since_at_s: int
    why: str


def choose_window(now_s: int, since_s: int | None, last_received_at: int | None) -> Window:
    """`--since` when given, else the last verified webhook; never beyond what Stripe keeps."""
    oldest = now_s - STRIPE_KEEPS_S
    if since_s is not None:
        if since_s > STRIPE_KEEPS_S:
            return Window(oldest, "--since capped at the 30 days Stripe keeps events")
        return Window(now_s - since_s, "--since")
    if last_received_at is None:
        return Window(oldest, "no webhook has arrived yet: the 30 days Stripe keeps events")
    start_s = last_received_at // 1000 - RETRY_MARGIN_S
    if start_s < oldest:
        return Window(oldest, "the last webhook is older than the 30 days Stripe keeps events")
    return Window(start_s, "three days (Stripe's retry window) before the last verified webhook")


@dataclass
class Listing:
    """The events Stripe listed, oldest first, each with its body as Stripe sends it."""

    events: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    capped_at: int | None = None  # MAX_EVENTS, when more were there and not fetched


class ReconcileFailed(Exception):
    """Stripe could not be asked; the message says what to check. Nothing was applied."""


async def list_events(client: stripe.StripeClient, since_at_s: int) -> Listing:
    """Every event of a type paydesk handles created since `since_at_s`, at most MAX_EVENTS."""
    seen: dict[str, tuple[dict[str, Any], bytes]] = {}
    listing = Listing()
    for types in _groups(sorted(HANDLED_TYPES)):
        params: dict[str, Any] = {
            "types": types,
            "created": {"gte": since_at_s},
            "limit": PAGE_SIZE,
        }
        while True:
            data, has_more = await _page(client, params)
            for event in data:
                seen[event["id"]] = (event, orjson.dumps(event))
            if len(seen) >= MAX_EVENTS and has_more:
                listing.capped_at = MAX_EVENTS
                break
            if not has_more or not data:
                break
            # Stripe lists newest first: the next page starts after the oldest one seen.
            params["starting_after"] = data[-1]["id"]
        if listing.capped_at:
            break
    # Oldest first, as they happened; the state machine takes any order, the log reads better.
    listing.events = sorted(seen.values(), key=lambda item: item[0]["created"])
    return listing


def _groups(types: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(types), TYPES_PER_REQUEST):
        yield types[start : start + TYPES_PER_REQUEST]


async def _page(client: stripe.StripeClient, params: dict[str, Any]) -> tuple[list[Any], bool]:
    """One page of events as Stripe sent them (dicts), and whether more follow.

    Every call is bounded by the client's STRIPE_TIMEOUT and its network retries.
    """
    wait_s = RATE_LIMIT_WAIT_S
    for attempt in range(1, RATE_LIMIT_TRIES + 1):
        try:
            page = await client.v1.events.list_async(params)  # type: ignore[arg-type]
        except stripe.RateLimitError:
            if attempt == RATE_LIMIT_TRIES:
                raise ReconcileFailed(
                    f"Stripe's rate limit refused {RATE_LIMIT_TRIES} calls in a row;"
                    " wait a minute and run reconcile again"
                ) from None
            await asyncio.sleep(wait_s)
            wait_s *= 2
            continue
        except stripe.AuthenticationError:
            raise ReconcileFailed(
                "Stripe refused STRIPE_SECRET_KEY (see `paydesk doctor`)"
            ) from None
        except stripe.APIConnectionError as exc:
            raise ReconcileFailed(
                f"could not reach Stripe: {exc.user_message or exc}; check STRIPE_API_BASE"
                " and the network, then run reconcile again"
            ) from None
        except stripe.StripeError as exc:
            raise ReconcileFailed(
                f"Stripe answered {exc.http_status}: {exc.user_message or exc}"
            ) from None
        # The bodies as Stripe rendered them, not the SDK's objects rebuilt.
        body = orjson.loads(page.last_response.body) if page.last_response else page.to_dict()
        return list(body["data"]), bool(body["has_more"])
    raise AssertionError("unreachable: the last try returns or raises")
