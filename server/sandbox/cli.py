"""Run the sandbox on its own: `paydesk sandbox --port 12111 --webhook-url ...`."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .app import create_sandbox_app
from .settings import DELIVERY_MODES, SandboxSettings, delivery_summary


@dataclass(frozen=True)
class Knob:
    """A command-line flag for one SandboxSettings field."""

    field: str
    kind: type
    help: str


KNOBS = (
    Knob("time_scale", float, "multiplies Stripe's durations: retries, refunds, balance (1: real)"),
    Knob("retry_base_delay", float, "Stripe seconds before the first webhook retry"),
    Knob("retry_factor", float, "each further retry waits this many times longer"),
    Knob("retry_max_delay", float, "longest wait between retries, in Stripe seconds"),
    Knob("max_attempts", int, "attempts per event before giving up"),
    Knob("attempt_timeout", float, "seconds one webhook attempt may take"),
    Knob("delivery_concurrency", int, "webhooks in flight at once (1 keeps them in order)"),
    Knob("delivery_window", float, "seconds within which events may overtake each other"),
    Knob("duplicate_rate", float, "share of events (0..1) delivered a second time"),
    Knob("balance_transaction_delay", float, "Stripe seconds from a charge to charge.updated"),
    Knob("refund_settle_delay", float, "Stripe seconds until a pending refund settles or fails"),
    Knob("async_payment_delay", float, "seconds until a bank debit succeeds or fails"),
    Knob("dispute_delay", float, "seconds from a 0259 payment to its dispute"),
    Knob("dispute_close_delay", float, "seconds until a dispute (or its evidence) is decided"),
    Knob(
        "min_session_lifetime", float, "shortest expires_at accepted, seconds ahead (Stripe: 1800)"
    ),
    Knob(
        "max_session_lifetime", float, "longest expires_at accepted, seconds ahead (Stripe: 86400)"
    ),
    Knob("latency", float, "seconds every API call waits before answering"),
    Knob("idempotency_key_ttl", float, "seconds an Idempotency-Key is remembered"),
    Knob("api_version", str, "api_version written on events"),
)


def build_parser() -> argparse.ArgumentParser:
    defaults = SandboxSettings()
    parser = argparse.ArgumentParser(
        prog="paydesk sandbox",
        description="A local Stripe sandbox (test mode only): Stripe's API, hosted checkout "
        "with test cards, and signed webhooks with retries.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=12111, help="port to listen on")
    parser.add_argument(
        "--public-url", help="where browsers reach the sandbox (default: http://HOST:PORT)"
    )
    parser.add_argument("--webhook-url", help="POST events here (default: record them only)")
    parser.add_argument(
        "--webhook-secret",
        action="append",
        default=[],
        help="whsec_ secret to sign with; repeat to sign with several (default: generate one)",
    )
    parser.add_argument(
        "--webhook-event",
        dest="webhook_events",
        action="append",
        default=[],
        help="event type the endpoint is subscribed to; repeatable (default: every type)",
    )
    parser.add_argument(
        "--secret-key",
        help="the account's sk_test_ key, the only one the API takes (default: generate one)",
    )
    parser.add_argument(
        "--publishable-key", help="the account's pk_test_ key (default: generate one)"
    )
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        default=[],
        help="also take this key (a restricted rk_test_ or a rolled sk_test_ key); repeatable",
    )
    parser.add_argument(
        "--delivery",
        choices=DELIVERY_MODES,
        default=defaults.delivery,
        help="stripe: events may come out of order and twice, as at Stripe; exact: in order, once",
    )
    parser.add_argument(
        "--delivery-seed",
        type=int,
        help="seed of the delivery order and duplicates, to replay a run (default: a new one)",
    )
    for knob in KNOBS:
        parser.add_argument(
            "--" + knob.field.replace("_", "-"),
            type=knob.kind,
            default=getattr(defaults, knob.field),
            help=knob.help,
        )
    return parser


def settings_from(args: argparse.Namespace, webhook_secrets: tuple[str, ...]) -> SandboxSettings:
    public_url = (args.public_url or f"http://{args.host}:{args.port}").rstrip("/")
    return SandboxSettings(
        public_url=public_url,
        webhook_url=args.webhook_url,
        webhook_secrets=webhook_secrets,
        delivery=args.delivery,
        api_keys=tuple(args.api_keys),
        webhook_events=tuple(args.webhook_events) or ("*",),
        **_given(secret_key=args.secret_key, publishable_key=args.publishable_key),
        **({} if args.delivery_seed is None else {"delivery_seed": args.delivery_seed}),
        **{knob.field: getattr(args, knob.field) for knob in KNOBS},
    )


def _given(**values: str | None) -> dict[str, Any]:
    """The keys given on the command line; the settings generate the others."""
    return {name: value for name, value in values.items() if value is not None}


def banner(settings: SandboxSettings, generated_secret: bool) -> str:
    line = "=" * 72
    secret = settings.webhook_secrets[0]
    webhooks = settings.webhook_url or "none: events are recorded, not delivered"
    return "\n".join(
        [
            line,
            "  STRIPE SANDBOX  ·  TEST MODE  ·  no real card is charged, no money moves",
            line,
            f"  API and hosted checkout:  {settings.public_url}",
            f"  Webhooks to:              {webhooks}",
            f"  Webhook secret:           {secret}"
            + ("  (generated; pass --webhook-secret to keep one)" if generated_secret else ""),
            f"  Webhook delivery:         {delivery_summary(settings)}",
            f"  Secret key:               {settings.secret_key}",
            f"  Publishable key:          {settings.publishable_key}",
            "  (the API answers any other key with 401; pass --secret-key to keep one)",
            "",
            "  Set in paydesk:",
            f"    STRIPE_API_BASE={settings.public_url}",
            f"    STRIPE_SECRET_KEY={settings.secret_key}",
            f"    STRIPE_WEBHOOK_SECRET={secret}",
            "",
            "  Test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined,",
            "  4000 0025 0000 3155 asks for 3-D Secure. All of them: docs/sandbox.md",
            line,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    generated = not args.webhook_secret
    webhook_secrets = tuple(args.webhook_secret) or (f"whsec_{secrets.token_hex(24)}",)
    try:
        settings = settings_from(args, webhook_secrets)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(banner(settings, generated), flush=True)
    web.run_app(create_sandbox_app(settings), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
