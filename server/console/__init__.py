"""The operator console at /admin and its JSON API at /api/admin; `setup_console(app, events)` adds both."""

from __future__ import annotations

from aiohttp import web

from ..config import ConsoleSettings
from ..payment_events import PaymentEvents
from .api import create_api_app
from .feed import OperatorFeed, operator_hub
from .keys import console_key
from .routes import add_console_routes
from .startup import setup_link_ctx
from .state import ConsoleState

__all__ = ["setup_console"]


def setup_console(app: web.Application, settings: ConsoleSettings, events: PaymentEvents) -> None:
    """Add the console's pages, API, live feed and start-up setup link to `app`."""

    def detail_url(payment_id: str) -> str:
        return str(app.router["admin.payment"].url_for(payment_id=payment_id))

    feed = OperatorFeed(operator_hub(), detail_url)
    app[console_key] = ConsoleState.create(settings, feed)
    add_console_routes(app.router)
    app.add_subapp("/api/admin", create_api_app(app))
    events.add_audience(feed)
    app.cleanup_ctx.append(setup_link_ctx)
    app.on_shutdown.append(close_feed)


async def close_feed(app: web.Application) -> None:
    """on_shutdown: open sockets close before the server waits for handlers to finish."""
    await app[console_key].feed.close()
