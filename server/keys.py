"""Typed keys for everything the app shares: one module, so every shared object is listed here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import jinja2

    from .catalog import Catalog
    from .checkout import Checkout
    from .config import Config
    from .db import Database
    from .stripe_gateway import StripeGateway

config_key: web.AppKey[Config] = web.AppKey("config")
catalog_key: web.AppKey[Catalog] = web.AppKey("catalog")
db_key: web.AppKey[Database] = web.AppKey("db")
stripe_key: web.AppKey[StripeGateway] = web.AppKey("stripe")
checkout_key: web.AppKey[Checkout] = web.AppKey("checkout")
templates_key: web.AppKey[jinja2.Environment] = web.AppKey("templates")

csrf_token_key: web.RequestKey[str] = web.RequestKey("csrf_token")
