"""What every console page gets: the layout's context, time and rate formatting, error pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...clock import utc_minute
from ...web.render import render
from ..keys import session_key
from ..wording import count, time_left

NAV = (
    ("admin.dashboard", "Dashboard"),
    ("admin.payments", "Payments"),
    ("admin.health", "Health"),
    ("admin.settings", "Settings"),
)


def when(stamp_ms: int | None) -> str:
    """A moment as the console shows it: '2024-05-31 14:03 UTC' (days and times are UTC)."""
    if stamp_ms is None:
        return "—"
    return utc_minute(stamp_ms)


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def page(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render a console template with the layout's context (navigation, who is signed in)."""
    current = request.match_info.route.name or ""
    response = render(
        request,
        template,
        {
            "nav": NAV,
            "current": current,
            "signed_in": session_key in request,
            "when": when,
            "percent": percent,
            "count": count,
            "time_left": time_left,
            **(context or {}),
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"  # operator data stays out of shared caches
    return response


def console_error(request: web.Request, status: int, message: str) -> web.Response:
    return page(request, "admin/error.html", {"status": status, "message": message}, status=status)


def not_found(request: web.Request, message: str) -> web.HTTPNotFound:
    """A console-styled 404 to raise; it carries its own page, so the error middleware keeps it."""
    rendered = console_error(request, 404, message)
    return web.HTTPNotFound(
        text=rendered.text, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


def see_other(
    request: web.Request, name: str, query: dict[str, str] | None = None, **parts: str
) -> web.HTTPSeeOther:
    """A 303 to a named console route, to raise after a form post."""
    target = request.app.router[name].url_for(**parts)
    return web.HTTPSeeOther(target.with_query(query) if query else target)
