"""Typed keys for everything the app shares: one module, so every shared object is listed here.

Only the HTTP edge reads them: handlers, middlewares and the resources that fill them. Domain
modules and adapters get what they need as arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import jinja2

    from ..catalog import Catalog
    from ..checkout import Checkout
    from ..config import Config
    from ..confirm import Confirmer
    from ..db import Database
    from ..mail import MailSender
    from ..mail.transport import Transport
    from ..my_payments import MyPayments
    from ..pacing import Foreground
    from ..payment_events import PaymentEvents
    from ..stripe_gateway import StripeGateway
    from ..webhook_stats import WebhookStats
    from ..webhooks import WebhookProcessor
    from .live import StatusPages

config_key: web.AppKey[Config] = web.AppKey("config")
catalog_key: web.AppKey[Catalog] = web.AppKey("catalog")
db_key: web.AppKey[Database] = web.AppKey("db")
stripe_key: web.AppKey[StripeGateway] = web.AppKey("stripe")
checkout_key: web.AppKey[Checkout] = web.AppKey("checkout")
templates_key: web.AppKey[jinja2.Environment] = web.AppKey("templates")
# Told of every committed payment change; it pushes to pages and the feed and wakes the mail.
events_key: web.AppKey[PaymentEvents] = web.AppKey("payment_events")
status_pages_key: web.AppKey[StatusPages] = web.AppKey("status_pages")
mail_sender_key: web.AppKey[MailSender] = web.AppKey("mail_sender")
# The one way out for mail (SMTP or a folder), shared by the outbox's sender and sign-in links.
mail_transport_key: web.AppKey[Transport] = web.AppKey("mail_transport")
webhooks_key: web.AppKey[WebhookProcessor] = web.AppKey("webhooks")
# Looks up unconfirmed payments at Stripe: customers back from checkout, and the sweep.
confirmer_key: web.AppKey[Confirmer] = web.AppKey("confirmer")
webhook_stats_key: web.AppKey[WebhookStats] = web.AppKey("webhook_stats")
# When requests last arrived: background work (mail) steps aside while they keep coming.
foreground_key: web.AppKey[Foreground] = web.AppKey("foreground")

# "My payments": sign-in limits per address and client, and the link mailer.
my_payments_key: web.AppKey[MyPayments] = web.AppKey("my_payments")

csrf_token_key: web.RequestKey[str] = web.RequestKey("csrf_token")
