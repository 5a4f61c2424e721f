"""HTML rendering: the Jinja2 environment and what every page template can use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from ..money import format_amount, format_major
from .keys import catalog_key, config_key, csrf_token_key, templates_key


def create_environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in a template is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda amount, currency: format_amount(amount, currency)
    # What goes into an input box is written the way the shop's customers type amounts.
    env.filters["major"] = lambda amount, currency, locale: format_major(amount, currency, locale)
    return env


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    app = request.match_info.apps[0]  # the root app, also when a mounted app's request fails
    config = app[config_key]

    def url(name: str, query: dict[str, str] | None = None, **parts: str) -> str:
        resource = app.router[name]
        target = resource.url_for(**parts)
        return str(target.with_query(query) if query else target)

    def static(path: str) -> str:
        return url("static", filename=path)

    html = (
        app[templates_key]
        .get_template(template)
        .render(
            request=request,
            shop=app[catalog_key].shop,
            locale=app[catalog_key].locale,
            test_mode=config.is_test_mode,
            stripe_mode=config.stripe_mode.value,
            csrf_token=request.get(csrf_token_key, ""),
            url=url,
            static=static,
            **(context or {}),
        )
    )
    return web.Response(text=html, status=status, content_type="text/html")
