"""Assemble the sandbox: routes, middlewares in their order, templates and background work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
from aiohttp import web

from . import (
    api_balance,
    api_checkout,
    api_customers,
    api_disputes,
    api_events,
    api_payments,
    api_refunds,
    api_webhook_endpoints,
    control,
    hosted,
    receipts,
)
from .api_base import api_errors, api_params
from .auth import require_api_key, require_control_key
from .background import background
from .delivery import delivery_ctx
from .errors import unrecognized_url
from .faults import setup_faults
from .idempotency import IdempotencyStore
from .keys import sandbox_key, templates_key
from .money import format_amount
from .settings import SandboxSettings
from .state import Sandbox
from .webhook_endpoints import create_endpoint

HERE = Path(__file__).parent


async def unrecognized(request: web.Request) -> web.StreamResponse:
    raise unrecognized_url(request.method, request.path)


def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["money"] = format_amount
    return environment


async def timers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Session expiry, bank debit outcomes and disputes fire from one task."""
    async with background(app[sandbox_key].timers.run(), "stripe-sandbox-timers"):
        yield


def create_sandbox_app(settings: SandboxSettings) -> web.Application:
    """The sandbox as an aiohttp app: standalone at "/", or mounted with `add_subapp`."""
    sandbox = Sandbox(settings)
    if settings.webhook_url is not None:
        # The configured endpoint is an ordinary one: listed, changeable, deletable.
        create_endpoint(
            sandbox,
            settings.webhook_url,
            list(settings.webhook_events),
            api_version=settings.api_version,
            description="configured with the sandbox",
            endpoint_secrets=settings.webhook_secrets,
        )
    idempotency = IdempotencyStore(settings.idempotency_key_ttl)
    app = web.Application()
    app[sandbox_key] = sandbox
    app[templates_key] = _templates()

    faults = setup_faults(app, settings.latency)
    # Order matters:
    # 1. api_errors: outermost, so every /v1 answer (even auth failures) has a request id and
    #    Stripe's error shape;
    # 2. require_api_key: nothing else runs for a request Stripe would refuse (and
    #    require_control_key likewise for /_control, which is not /v1 and so not Stripe-shaped);
    # 3. api_params: decode the form once for idempotency and handlers;
    # 4. idempotency: compares decoded params and sees the handler's answer, including faults;
    # 5. faults: inside idempotency, so an injected delay keeps the key in flight (409 for a
    #    concurrent retry) and an injected error is not saved (a retry then runs for real).
    app.middlewares.extend(
        [
            api_errors,
            require_api_key,
            require_control_key,
            api_params,
            idempotency.middleware,
            faults.middleware,
        ]
    )

    hosted.add_routes(app.router)
    api_checkout.add_routes(app.router)
    api_customers.add_routes(app.router)
    api_payments.add_routes(app.router)
    api_refunds.add_routes(app.router)
    api_disputes.add_routes(app.router)
    api_events.add_routes(app.router)
    api_webhook_endpoints.add_routes(app.router)
    api_balance.add_routes(app.router)
    receipts.add_routes(app.router)
    app.router.add_route("*", "/v1/{tail:.*}", unrecognized, name="api.unrecognized")
    control.add_routes(app.router)
    app.router.add_static("/static", HERE / "static", name="static")

    app.cleanup_ctx.append(timers_ctx)
    app.cleanup_ctx.append(delivery_ctx)
    return app
