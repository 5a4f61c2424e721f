"""Checks against Stripe: the key and its mode, and the webhook endpoint that feeds paydesk."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import stripe

from ..config import Config, StripeMode
from ..lifecycle import HANDLED_TYPES
from .report import Finding, fail, ok, warn

WEBHOOK_PATH = "/webhooks/stripe"
# The event types paydesk acts on, in the order they are asked for.
WANTED_EVENTS = tuple(sorted(HANDLED_TYPES))
# Webhook payloads are rendered in the endpoint's API version; paydesk reads them as the
# stripe-python it ships with reads that version.
API_VERSION = stripe.api_version
READ_API_VERSIONS = frozenset({API_VERSION})
# How far back delivery failures are worth a warning (Stripe retries for three days).
RECENT_FAILURES_S = 3 * 24 * 60 * 60
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def webhook_url(config: Config) -> str:
    return config.public_url + WEBHOOK_PATH


def check_mode(config: Config) -> list[Finding]:
    """Whether the key's mode fits where customers reach paydesk."""
    if config.stripe_mode is StripeMode.SANDBOX:
        return [
            warn(
                "stripe",
                "no STRIPE_SECRET_KEY: the built-in sandbox is in use (TEST MODE, no real money); "
                "set STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and PUBLIC_URL to go live",
            )
        ]
    parts = urlsplit(config.public_url)
    if not config.is_test_mode:
        if parts.scheme != "https":
            return [
                fail(
                    "mode",
                    f"a live key with PUBLIC_URL={config.public_url}: live payments need an "
                    "https:// PUBLIC_URL (put paydesk behind a TLS proxy and set PUBLIC_URL to "
                    "its address)",
                )
            ]
        if parts.hostname in _LOOPBACK:
            return [
                fail(
                    "mode",
                    f"a live key with PUBLIC_URL={config.public_url}: Stripe and customers "
                    "cannot reach this machine's loopback; set PUBLIC_URL to the public address",
                )
            ]
        return [ok("mode", f"live: real payments at {config.public_url}")]
    if parts.scheme == "https" and config.stripe_mode is StripeMode.STRIPE:
        return [
            warn(
                "mode",
                f"a test key (sk_test_) at {config.public_url}: no real money moves; set "
                "STRIPE_SECRET_KEY to your live key (sk_live_) and create a live webhook endpoint",
            )
        ]
    return [ok("mode", f"test mode at {config.public_url}: no real money moves")]


@dataclass(frozen=True)
class Endpoints:
    """What Stripe said about the webhook endpoints, or why it said nothing."""

    found: list[stripe.WebhookEndpoint]
    problem: Finding | None = None


async def list_endpoints(config: Config, client: stripe.StripeClient) -> Endpoints:
    """Every webhook endpoint of the account; the call also proves the key works."""
    try:
        page = await client.v1.webhook_endpoints.list_async({"limit": 100})
        found = [endpoint async for endpoint in page.auto_paging_iter()]
    except stripe.AuthenticationError as exc:
        where = (
            "the Stripe dashboard → Developers → API keys"
            if config.stripe_mode is not StripeMode.CUSTOM
            # A standalone sandbox has keys of its own too; it prints them when it starts.
            else f"the Stripe dashboard → Developers → API keys, or the banner of the sandbox at "
            f"{config.stripe_api_base} (paydesk sandbox --secret-key keeps one key)"
        )
        return Endpoints(
            [],
            fail(
                "stripe key",
                f"Stripe refused STRIPE_SECRET_KEY ({exc.user_message or exc}): copy the secret "
                f"key from {where}",
            ),
        )
    except stripe.PermissionError as exc:
        return Endpoints(
            [],
            fail(
                "stripe key",
                f"the key may not read webhook endpoints ({exc.user_message or exc}): give the "
                "restricted key read access to Webhook Endpoints (write access to create one)",
            ),
        )
    except stripe.APIConnectionError as exc:
        return Endpoints(
            [],
            fail(
                "stripe key",
                f"cannot reach {config.stripe_api_base} ({exc.user_message or exc}): check the "
                "network, a proxy or firewall, and STRIPE_API_BASE",
            ),
        )
    except stripe.StripeError as exc:
        return Endpoints(
            [],
            fail(
                "stripe key",
                f"Stripe answered {exc.http_status}: {exc.user_message or exc}; try again in a "
                "minute",
            ),
        )
    return Endpoints(found)


def key_works(config: Config) -> Finding:
    mode = "test" if config.is_test_mode else "live"
    return ok("stripe key", f"accepted by {config.stripe_api_base} ({mode} mode)")


def check_endpoint(
    config: Config, endpoints: list[stripe.WebhookEndpoint], program: str
) -> list[Finding]:
    """The endpoint for PUBLIC_URL/webhooks/stripe: there, enabled, complete, a version we read."""
    url = webhook_url(config)
    mine = [e for e in endpoints if _same_url(e.url, url)]
    if not mine:
        others = ", ".join(e.url for e in endpoints) or "none"
        return [
            fail(
                "webhook endpoint",
                f"no endpoint sends events to {url} (endpoints found: {others}): run "
                f"`{program} doctor --create-webhook-endpoint`, or add it in the Stripe dashboard "
                "→ Developers → Webhooks with the events listed in docs/doctor.md",
            )
        ]
    findings: list[Finding] = []
    enabled = [e for e in mine if e.status == "enabled"]
    if not enabled:
        ids = ", ".join(e.id for e in mine)
        return [
            fail(
                "webhook endpoint",
                f"{ids} for {url} is disabled, so Stripe sends paydesk nothing: enable it in the "
                "Stripe dashboard → Developers → Webhooks",
            )
        ]
    if len(enabled) > 1:
        findings.append(
            warn(
                "webhook endpoint",
                f"{len(enabled)} enabled endpoints send to {url} "
                f"({', '.join(e.id for e in enabled)}): each event arrives once per endpoint; "
                "delete the extra ones",
            )
        )
    endpoint = enabled[0]
    missing = _missing_events(endpoint.enabled_events)
    if missing:
        findings.append(
            fail(
                "webhook events",
                f"{endpoint.id} does not send {', '.join(missing)}: add these events to the "
                "endpoint in the Stripe dashboard, or delete it and run "
                f"`{program} doctor --create-webhook-endpoint`",
            )
        )
    else:
        findings.append(
            ok("webhook endpoint", f"{endpoint.id} is enabled and sends every event paydesk needs")
        )
    findings.append(_check_version(endpoint, program))
    return findings


def _check_version(endpoint: stripe.WebhookEndpoint, program: str) -> Finding:
    version = endpoint.api_version
    if version is None:
        return warn(
            "webhook API version",
            f"{endpoint.id} uses the account's default API version, which paydesk cannot see: "
            f"make sure it is {API_VERSION} (Stripe dashboard → Developers → API version), or "
            f"recreate the endpoint with `{program} doctor --create-webhook-endpoint`",
        )
    if version not in READ_API_VERSIONS:
        return fail(
            "webhook API version",
            f"{endpoint.id} sends events in API version {version}; paydesk reads {API_VERSION}: "
            f"delete the endpoint and run `{program} doctor --create-webhook-endpoint`",
        )
    return ok("webhook API version", version)


def _missing_events(enabled: list[str]) -> list[str]:
    if "*" in enabled:
        return []
    return [t for t in WANTED_EVENTS if t not in enabled]


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


async def check_deliveries(client: stripe.StripeClient) -> Finding:
    """Events Stripe could not deliver lately: the sign of a wrong secret or an unreachable URL."""
    since = int(time.time()) - RECENT_FAILURES_S
    try:
        page = await client.v1.events.list_async(
            {"delivery_success": False, "created": {"gte": since}, "limit": 100}
        )
    except stripe.StripeError as exc:
        return warn("webhook deliveries", f"could not list events: {exc.user_message or exc}")
    failed = [e for e in page.data if e.type in HANDLED_TYPES]
    if failed:
        return warn(
            "webhook deliveries",
            f"{len(failed)}{'+' if page.has_more else ''} event(s) of the last three days not "
            f"delivered yet (newest {failed[0].id}, {failed[0].type}): check that paydesk is "
            "running and reachable at PUBLIC_URL and that STRIPE_WEBHOOK_SECRET is this "
            "endpoint's signing secret",
        )
    return ok("webhook deliveries", "no undelivered events in the last three days")


@dataclass(frozen=True)
class Created:
    endpoint_id: str
    secret: str


async def create_endpoint(
    config: Config, client: stripe.StripeClient, endpoints: list[stripe.WebhookEndpoint]
) -> Created | Finding:
    """The endpoint paydesk needs, unless one for its URL exists (then: what to do instead)."""
    url = webhook_url(config)
    existing = [e for e in endpoints if _same_url(e.url, url)]
    if existing:
        return warn(
            "webhook endpoint",
            f"{existing[0].id} already sends to {url}, so none was created: fix it as the "
            "lines below say, or delete it first to create a new one",
        )
    try:
        created = await client.v1.webhook_endpoints.create_async(
            {
                "url": url,
                "enabled_events": list(WANTED_EVENTS),  # type: ignore[arg-type]  # str, not the SDK's Literal
                "api_version": API_VERSION,  # type: ignore[typeddict-item]
                "description": "paydesk",
            },
            {"idempotency_key": f"paydesk-webhook-endpoint-{uuid.uuid4()}"},
        )
    except stripe.StripeError as exc:
        return fail(
            "webhook endpoint",
            f"Stripe did not create the endpoint for {url}: {exc.user_message or exc}",
        )
    if not created.secret:
        return fail("webhook endpoint", f"{created.id} was created without a signing secret")
    return Created(created.id, created.secret)
