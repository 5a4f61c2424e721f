"""The operator console at /admin and its JSON API at /api/admin; `setup_console(app)` adds both.

Call it from create_app once the core routes and cleanup contexts are in place (it needs the
database at start to decide whether to print a setup link). A second call is a no-op, so tests
that add it themselves keep working once create_app does.
"""

from __future__ import annotations

from aiohttp import web

from ..keys import payment_listeners_key
from .api import create_api_app
from .feed import close_feed, feed_listener
from .keys import console_installed_key, console_key
from .routes import add_console_routes
from .settings import ConsoleSettings
from .startup import setup_link_ctx
from .state import ConsoleState

__all__ = ["ConsoleSettings", "setup_console"]


def setup_console(app: web.Application, settings: ConsoleSettings | None = None) -> None:
    if app.get(console_installed_key):
        return
    app[console_installed_key] = True
    app[console_key] = ConsoleState.create(settings or ConsoleSettings())
    add_console_routes(app.router)
    app.add_subapp("/api/admin", create_api_app(app))
    app[payment_listeners_key].append(feed_listener)
    app.cleanup_ctx.append(setup_link_ctx)
    app.on_shutdown.append(close_feed)
