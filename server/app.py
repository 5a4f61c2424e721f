"""Assembles the paydesk web application from a Config: routes, middlewares, resources, sandbox."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from .catalog import load_catalog
from .config import Config, StripeMode, origin_of
from .console import setup_console
from .lifecycle import HANDLED_TYPES
from .pacing import Foreground
from .package_data import templates_folder
from .payment_events import PaymentEvents
from .payments import get_payment
from .resources import (
    change_feed_ctx,
    checkout_ctx,
    close_status_pages,
    confirmer_ctx,
    database_ctx,
    gc_schedule_ctx,
    mail_sender_ctx,
    mail_transport_ctx,
    my_payments_ctx,
    notifier_ctx,
    status_pages_ctx,
    stripe_ctx,
    webhooks_ctx,
)
from .web.body_limit import BodyTiming, setup_body_limit
from .web.client import setup_client_identity
from .web.cors import setup_cors
from .web.csrf import setup_csrf
from .web.errors import setup_errors
from .web.fanout import PING_EVERY_S
from .web.foreground import setup_foreground
from .web.keys import (
    catalog_key,
    config_key,
    db_key,
    events_key,
    foreground_key,
    templates_key,
    webhook_stats_key,
)
from .web.limits import RequestLimits, setup_request_limits
from .web.metrics import setup_metrics
from .web.render import create_environment
from .web.routes import setup_routes
from .web.security_headers import content_security_policy, setup_security_headers
from .webhook_stats import WebhookStats

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # the hard cap; routes get smaller limits below
FORM_BODY_LIMIT = 16 * 1024
WEBHOOK_BODY_LIMIT = 512 * 1024  # Stripe events are well under this
PUBLIC_API_ROUTES = ("api_products", "api_checkout", "api_payment")
# For the server that runs the app (the command line). aiohttp rounds a timer longer than
# timeout_ceil_threshold up to the next whole second, so such timers fire together. With
# 10,000 open status sockets that put the pings of ~400 of them into one instant every
# second: a 20-40 ms stall for whatever webhook or push came then. Above the ping interval, each
# socket pings on its own schedule; longer timers (keep-alive) are still rounded.
SERVER_OPTIONS: dict[str, Any] = {"timeout_ceil_threshold": PING_EVERY_S + 5}


def server_options(config: Config) -> dict[str, Any]:
    """SERVER_OPTIONS with the settings aiohttp's server applies itself, for `web.run_app`."""
    # aiohttp closes a connection that has no complete request after keepalive_timeout: an idle
    # keep-alive connection, and one whose request line and headers have not all arrived.
    return {**SERVER_OPTIONS, "keepalive_timeout": config.keepalive_timeout_s}


async def create_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[config_key] = config
    catalog = app[catalog_key] = load_catalog(config.catalog_path, config.locale)
    app[templates_key] = create_environment(templates_folder())
    app[webhook_stats_key] = WebhookStats()
    foreground = app[foreground_key] = Foreground()
    # Every writer reports its commits here; the row is read on demand, once the database is open.
    events = app[events_key] = PaymentEvents(
        lambda payment_id: get_payment(app[db_key], payment_id)
    )
    setup_routes(app)

    # Middlewares, outermost first. Client identity comes first, so everything after it (limiters,
    # throttle, logs) sees the client behind a trusted proxy, not the proxy. The foreground mark
    # only notes that a request arrived (mail steps aside while they keep coming). Errors wraps
    # everything else, so whatever an inner one raises is rendered as a page or JSON. Requests in
    # progress are capped before any body is read, so a held body holds one slot; the body limit
    # runs before anything reads a body; CORS headers go on refused answers too. Checkouts per
    # client are limited by checkout itself: only attempts that reach Stripe count.
    setup_client_identity(app, config.trusted_proxies)
    setup_foreground(app, foreground)
    setup_errors(app)
    # Inside errors and outside the limits: webhook calls are timed and counted by the answer
    # they get, a refusal by the limits or the body limit included.
    setup_metrics(app)
    setup_request_limits(
        app,
        RequestLimits(
            config.max_requests, config.max_requests_per_client, config.max_webhook_requests
        ),
        webhook_routes=("stripe_webhook",),
        exempt_routes=("healthz", "payment_live", "admin.live"),
    )
    setup_body_limit(
        app,
        default=FORM_BODY_LIMIT,
        per_route={"stripe_webhook": WEBHOOK_BODY_LIMIT},
        timing=BodyTiming(config.body_idle_timeout_s, config.body_min_bytes_per_s),
    )
    setup_cors(app, origins=config.cors_origins, routes=PUBLIC_API_ROUTES)
    setup_csrf(app, public_url=config.public_url, exempt_routes=("api_checkout", "stripe_webhook"))
    setup_security_headers(
        app, _csp(config, catalog.shop.logo_url), https=config.public_url.startswith("https://")
    )

    # Resources in the order they need each other; each stops in reverse (resources.py).
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(mail_transport_ctx)
    app.cleanup_ctx.append(mail_sender_ctx)
    app.cleanup_ctx.append(notifier_ctx)
    app.cleanup_ctx.append(my_payments_ctx)
    app.cleanup_ctx.append(stripe_ctx)
    app.cleanup_ctx.append(status_pages_ctx)
    app.cleanup_ctx.append(change_feed_ctx)
    app.cleanup_ctx.append(checkout_ctx)
    app.cleanup_ctx.append(webhooks_ctx)
    app.cleanup_ctx.append(confirmer_ctx)
    app.cleanup_ctx.append(gc_schedule_ctx)
    app.on_shutdown.append(close_status_pages)
    setup_console(app, config.console, events)
    if config.stripe_mode is StripeMode.SANDBOX:
        _mount_sandbox(app, config)
    return app


def _csp(config: Config, logo_url: str | None) -> str:
    if config.stripe_mode is StripeMode.STRIPE:
        form_targets = ["https://checkout.stripe.com"]
    elif config.stripe_mode is StripeMode.CUSTOM:
        form_targets = [origin_of(config.stripe_api_base)]
    else:
        form_targets = []  # the in-process sandbox's checkout page is on our own origin
    images = [origin_of(logo_url)] if logo_url and not logo_url.startswith("/") else []
    return content_security_policy(config.public_url, form_targets, images)


def _mount_sandbox(app: web.Application, config: Config) -> None:
    # The one place the app touches the sandbox: mounting it. From here on they talk only over
    # HTTP, through the stripe SDK and signed webhooks, exactly as paydesk and Stripe do.
    from .sandbox import SandboxSettings, create_sandbox_app

    settings = SandboxSettings(
        public_url=config.sandbox_public_url,
        webhook_url=config.webhook_url,
        webhook_secrets=config.webhook_secrets,
        # Subscribed to what paydesk handles, as the doctor asks of a Stripe endpoint.
        webhook_events=tuple(sorted(HANDLED_TYPES)),
        # The sandbox takes only its own key, as Stripe does: the one paydesk presents.
        secret_key=config.stripe_secret_key,
    )
    app.add_subapp("/_sandbox", create_sandbox_app(settings))
    log.warning(
        "TEST MODE: no STRIPE_SECRET_KEY set, payments go to the built-in Stripe sandbox at %s. "
        "Pay with card 4242 4242 4242 4242. No real money moves.",
        config.sandbox_public_url,
    )
