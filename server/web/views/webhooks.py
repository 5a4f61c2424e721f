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
        # Not acknowledged: Stripe retries, and the event is applied once the payment is found.
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


def _verify(payload: bytes, header: str, secrets: tuple[str, ...], tolerance: int) -> None:
    """Accept a signature made with any configured secret (during rotation there are several)."""
    if not header:
        raise stripe.SignatureVerificationError("missing Stripe-Signature header", header, payload)
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
            _check_not_from_the_future(header, tolerance)
            return
    assert last_error is not None  # config guarantees at least one secret
    raise last_error


def _check_not_from_the_future(header: str, tolerance: int) -> None:
    # The SDK only refuses old timestamps; a far-future one would stay replayable for that long.
    stamps = [part[2:] for part in header.split(",") if part.startswith("t=")]
    if stamps and stamps[0].isdigit() and int(stamps[0]) > time.time() + tolerance:
        raise stripe.SignatureVerificationError("signature timestamp is in the future", header)


def _reason(exc: Exception) -> str:
    message = str(exc.user_message if isinstance(exc, stripe.SignatureVerificationError) else exc)
    if "tolerance" in message:
        return "signature timestamp is too old"
    if "Unable to extract" in message or "expected scheme" in message:
        return "malformed Stripe-Signature header"
    if "matching the expected signature" in message:
        return "signature does not match"
    return message
