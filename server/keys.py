"""Typed keys for everything the app shares: one module, so every shared object is listed here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import jinja2

    from .catalog import Catalog
    from .checkout import Checkout
    from .config import Config
    from .db import Database
    from .live import LiveHub
    from .mail import MailSender
    from .pacing import Foreground
    from .stripe_gateway import StripeGateway
    from .webhook_stats import WebhookStats
    from .webhooks import WebhookProcessor

    PaymentListener = Callable[[web.Application, str], Awaitable[None]]

config_key: web.AppKey[Config] = web.AppKey("config")
catalog_key: web.AppKey[Catalog] = web.AppKey("catalog")
db_key: web.AppKey[Database] = web.AppKey("db")
stripe_key: web.AppKey[StripeGateway] = web.AppKey("stripe")
checkout_key: web.AppKey[Checkout] = web.AppKey("checkout")
templates_key: web.AppKey[jinja2.Environment] = web.AppKey("templates")
live_hub_key: web.AppKey[LiveHub] = web.AppKey("live_hub")
# Called with (app, payment id) after a payment is created or changed; must not block for long.
payment_listeners_key: web.AppKey[list[PaymentListener]] = web.AppKey("payment_listeners")
mail_sender_key: web.AppKey[MailSender] = web.AppKey("mail_sender")
webhooks_key: web.AppKey[WebhookProcessor] = web.AppKey("webhooks")
webhook_stats_key: web.AppKey[WebhookStats] = web.AppKey("webhook_stats")
# When requests last arrived: background work (mail) steps aside while they keep coming.
foreground_key: web.AppKey[Foreground] = web.AppKey("foreground")

csrf_token_key: web.RequestKey[str] = web.RequestKey("csrf_token")
