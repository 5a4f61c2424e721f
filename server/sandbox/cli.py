"""Run the sandbox on its own: `paydesk sandbox --port 12111 --webhook-url ...`."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from dataclasses import dataclass

from aiohttp import web

from .app import create_sandbox_app
from .settings import SandboxSettings


@dataclass(frozen=True)
class Knob:
    """A command-line flag for one SandboxSettings field."""

    field: str
    kind: type
    help: str


KNOBS = (
    Knob("retry_base_delay", float, "seconds before the first webhook retry"),
    Knob("retry_factor", float, "each further retry waits this many times longer"),
    Knob("retry_max_delay", float, "longest wait between retries, in seconds"),
    Knob("max_attempts", int, "attempts per event before giving up"),
    Knob("attempt_timeout", float, "seconds one webhook attempt may take"),
    Knob("delivery_concurrency", int, "webhooks in flight at once (1 keeps them in order)"),
    Knob("duplicate_rate", float, "share of events (0..1) delivered a second time"),
    Knob("seed", int, "seed for duplicate and shuffle choices"),
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
        "--api-key",
        dest="api_keys",
        action="append",
        default=[],
        help="accept only this sk_test_ key; repeat for several (default: any sk_test_ key)",
    )
    parser.add_argument(
        "--shuffle", action="store_true", help="deliver ready events in random order"
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
        shuffle=args.shuffle,
        api_keys=tuple(args.api_keys),
        **{knob.field: getattr(args, knob.field) for knob in KNOBS},
    )


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
            "",
            "  Set in paydesk:",
            f"    STRIPE_API_BASE={settings.public_url}",
            (
                f"    STRIPE_SECRET_KEY={settings.api_keys[0]}"
                if settings.api_keys
                else "    STRIPE_SECRET_KEY=sk_test_sandbox        (any sk_test_ key is accepted)"
            ),
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
