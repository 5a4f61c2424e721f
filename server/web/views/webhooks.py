"""POST /webhooks/stripe: verify Stripe's signature on the raw body, then apply the event."""

from __future__ import annotations

import json
import logging
import time

import stripe
from aiohttp import web

from ...stripe_gateway import StripeUnavailable
from ...webhooks import MalformedEvent, UnknownPayment, parse_event
from ..client import client_id
from ..keys import config_key, webhook_stats_key, webhooks_key

log = logging.getLogger(__name__)


async def stripe_webhook(request: web.Request) -> web.Response:
    payload = await request.read()
    header = request.headers.get("Stripe-Signature", "")
    try:
        _verify(
            payload,
            header,
            request.app[config_key].webhook_secrets,
            request.app[config_key].webhook_tolerance,
        )
        event = parse_event(payload)
    except (stripe.SignatureVerificationError, MalformedEvent) as exc:
        reason = _reason(exc)
        request.app[webhook_stats_key].rejected(reason)
        log.warning("rejected a webhook call from %s: %s", client_id(request), reason)
        return web.json_response({"error": {"message": reason}}, status=400)
    try:
        result = await request.app[webhooks_key].process(event, payload)
    except UnknownPayment:
        # Not acknowledged, for a few minutes after the event: the payment may be committing now.
        return web.json_response(
            {"error": {"message": "event names an unknown paydesk payment"}}, status=500
        )
    except StripeUnavailable as exc:
        log.warning("webhook %s deferred: %s", event["id"], exc)
        return web.json_response(
            {"error": {"message": "could not look up the payment; retry"}}, status=503
        )
    return web.Response(body=_RECEIVED[result.outcome], content_type="application/json")


# The answer to every accepted event is one of four bodies: encoded once, not per event.
_RECEIVED = {
    outcome: json.dumps({"received": True, "outcome": outcome}).encode()
    for outcome in ("applied", "unchanged", "ignored", "duplicate")
}


# Stripe's header is "t=<unix seconds>,v1=<64 hex>[,v1=...][,v0=...]": a few hundred ASCII bytes.
MAX_HEADER_LENGTH = 2048
MAX_TIMESTAMP_DIGITS = 12


def _verify(payload: bytes, header: str, secrets: tuple[str, ...], tolerance: int) -> None:
    """Accept a signature made with any configured secret (during rotation there are several)."""
    if not header:
        raise stripe.SignatureVerificationError("missing Stripe-Signature header", header, payload)
    timestamp = _timestamp(header)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEvent("body is not UTF-8") from None
    last_error: stripe.SignatureVerificationError | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance=tolerance)
        except stripe.SignatureVerificationError as exc:
            last_error = exc
        else:
            # The SDK only refuses old timestamps; a far-future one would stay replayable for that long.
            if timestamp > time.time() + tolerance:
                raise stripe.SignatureVerificationError(
                    "signature timestamp is in the future", header
                )
            return
    assert last_error is not None  # config guarantees at least one secret
    raise last_error


def _timestamp(header: str) -> int:
    """The header's `t=`: ASCII digits only, so the SDK's checks and ours read the same number.

    Refusing anything else here also keeps non-ASCII signatures away from the SDK's string
    comparison, which raises on them instead of saying no.
    """
    malformed = stripe.SignatureVerificationError("malformed Stripe-Signature header", header)
    if len(header) > MAX_HEADER_LENGTH or not header.isascii():
        raise malformed
    stamps = [part[2:] for part in header.split(",") if part.startswith("t=")]
    if not stamps or not all(s.isdigit() and len(s) <= MAX_TIMESTAMP_DIGITS for s in stamps):
        raise malformed
    return int(stamps[0])


def _reason(exc: Exception) -> str:
    message = str(exc.user_message if isinstance(exc, stripe.SignatureVerificationError) else exc)
    if "tolerance" in message:
        return "signature timestamp is too old"
    if "Unable to extract" in message or "expected scheme" in message:
        return "malformed Stripe-Signature header"
    if "matching the expected signature" in message:
        return "signature does not match"
    return message
