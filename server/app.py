"""Assembles the paydesk web application from a Config: routes, middlewares, resources, sandbox."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web

from .body_limit import setup_body_limit
from .catalog import load_catalog
from .checkout import Checkout, CheckoutUrls
from .config import PROJECT_ROOT, Config, StripeMode
from .console import setup_console
from .cors import setup_cors
from .csrf import setup_csrf
from .db import Database
from .errors import setup_errors
from .gc_schedule import gc_schedule_ctx
from .keys import (
    catalog_key,
    checkout_key,
    config_key,
    db_key,
    payment_listeners_key,
    stripe_key,
    templates_key,
    webhook_stats_key,
    webhooks_key,
)
from .live import close_live_sockets, live_hub_ctx, payment_changed
from .mail import mail_sender_ctx
from .pacing import Foreground, setup_foreground
from .rate_limit import RateLimiter
from .render import create_environment
from .routes import setup_routes
from .security_headers import content_security_policy, setup_security_headers
from .socket_sender import HEARTBEAT
from .stripe_gateway import stripe_gateway_ctx
from .webhook_stats import WebhookStats
from .webhooks import WebhookProcessor

log = logging.getLogger(__name__)

MIGRATIONS_FOLDER = PROJECT_ROOT / "migrations"
TEMPLATES_FOLDER = PROJECT_ROOT / "templates"
MAX_BODY = 1024 * 1024  # the hard cap; routes get smaller limits below
FORM_BODY_LIMIT = 16 * 1024
WEBHOOK_BODY_LIMIT = 512 * 1024  # Stripe events are well under this
PUBLIC_API_ROUTES = ("api_products", "api_checkout", "api_payment")
# For the server that runs the app (run.py). aiohttp rounds a timer longer than
# timeout_ceil_threshold up to the next whole second, so such timers fire together. With
# 10,000 open status sockets that put the heartbeat pings of ~400 of them into one instant every
# second: a 20-40 ms stall for whatever webhook or push came then. Above the heartbeat, each
# socket pings on its own schedule; longer timers (keep-alive) are still rounded.
SERVER_OPTIONS = {"timeout_ceil_threshold": HEARTBEAT + 5}


async def create_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[config_key] = config
    catalog = app[catalog_key] = load_catalog(config.catalog_path, config.locale)
    app[templates_key] = create_environment(TEMPLATES_FOLDER)
    app[webhook_stats_key] = WebhookStats()
    app[payment_listeners_key] = []
    setup_routes(app)

    # Middlewares, outermost first. The foreground mark only notes that a request arrived (mail
    # steps aside while they keep coming). Errors wraps everything so whatever an inner one raises
    # is rendered as a page or JSON; the body limit runs before anything reads a body; CORS headers
    # go on refused answers too. Checkouts per client are limited by checkout itself (see
    # checkout_ctx): only attempts that reach Stripe count, so a typo costs the customer nothing.
    setup_foreground(app, Foreground())
    setup_errors(app)
    setup_body_limit(app, default=FORM_BODY_LIMIT, per_route={"stripe_webhook": WEBHOOK_BODY_LIMIT})
    setup_cors(app, origins=config.cors_origins, routes=PUBLIC_API_ROUTES)
    setup_csrf(app, public_url=config.public_url, exempt_routes=("api_checkout", "stripe_webhook"))
    setup_security_headers(
        app, _csp(config, catalog.shop.logo_url), https=config.public_url.startswith("https://")
    )

    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(mail_sender_ctx)
    app.cleanup_ctx.append(stripe_gateway_ctx)
    app.cleanup_ctx.append(live_hub_ctx)
    app.cleanup_ctx.append(checkout_ctx)
    app.cleanup_ctx.append(webhooks_ctx)
    app.cleanup_ctx.append(gc_schedule_ctx)
    app.on_shutdown.append(close_live_sockets)
    setup_console(app)
    if config.stripe_mode is StripeMode.SANDBOX:
        _mount_sandbox(app, config)
    return app


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]
    db = await Database.open(config.database_path)
    try:
        await db.migrate(MIGRATIONS_FOLDER)
        app[db_key] = db
        yield
    finally:
        await db.close()


async def checkout_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]

    def absolute(name: str, payment_id: str) -> str:
        return config.public_url + str(app.router[name].url_for(payment_id=payment_id))

    urls = CheckoutUrls(
        # Stripe fills in {CHECKOUT_SESSION_ID}; it must reach Stripe unescaped.
        success=lambda pid: absolute("payment_status", pid) + "?session_id={CHECKOUT_SESSION_ID}",
        cancel=lambda pid: absolute("payment_cancelled", pid),
    )
    app[checkout_key] = Checkout(
        app[db_key],
        app[stripe_key],
        urls,
        config.checkout_expiry_minutes,
        on_change=lambda payment_id: payment_changed(app, payment_id),
        limiter=RateLimiter(config.checkout_rate_limit),
    )
    yield


async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    app[webhooks_key] = WebhookProcessor(app[db_key], app[stripe_key].payment_id_for_intent)
    yield


def _csp(config: Config, logo_url: str | None) -> str:
    if config.stripe_mode is StripeMode.STRIPE:
        form_targets = ["https://checkout.stripe.com"]
    elif config.stripe_mode is StripeMode.CUSTOM:
        form_targets = [_origin(config.stripe_api_base)]
    else:
        form_targets = []  # the in-process sandbox's checkout page is on our own origin
    images = [_origin(logo_url)] if logo_url and not logo_url.startswith("/") else []
    return content_security_policy(config.public_url, form_targets, images)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _mount_sandbox(app: web.Application, config: Config) -> None:
    # The one place the app touches the sandbox: mounting it. From here on they talk only over
    # HTTP, through the stripe SDK and signed webhooks, exactly as paydesk and Stripe do.
    from .sandbox import SandboxSettings, create_sandbox_app

    settings = SandboxSettings(
        public_url=config.sandbox_public_url,
        webhook_url=config.webhook_url,
        webhook_secrets=config.webhook_secrets,
    )
    app.add_subapp("/_sandbox", create_sandbox_app(settings))
    log.warning(
        "TEST MODE: no STRIPE_SECRET_KEY set, payments go to the built-in Stripe sandbox at %s. "
        "Pay with card 4242 4242 4242 4242. No real money moves.",
        config.sandbox_public_url,
    )
