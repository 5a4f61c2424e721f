"""The dashboard, the payment list with its CSV export, and the health page."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ...clock import now_ms
from ...lifecycle import Status
from ...stripe_gateway import API_VERSION
from ...web.keys import catalog_key, config_key, db_key, webhook_stats_key
from ...webhooks import VERSIONS_WINDOW_MS, api_version_advice, other_api_versions
from ..chart import bar_chart
from ..csv_export import csv_chunks
from ..guard import operator_page
from ..keys import console_key
from ..queries import Cursor, FilterError, PaymentFilter, list_payments, parse_filter
from ..reports import load_dashboard, load_health, load_open_disputes, load_storage
from .common import page

MB = 1024 * 1024


async def _figures(request: web.Request) -> dict[str, Any]:
    """The context of the figures and the chart (templates/admin/_figures.html)."""
    stamp = now_ms()
    figures = await load_dashboard(request.app[db_key], stamp)
    charts = [bar_chart(points, currency) for currency, points in figures.daily.items()]
    return {"figures": figures, "charts": charts, "as_of": stamp}


@operator_page
async def dashboard(request: web.Request) -> web.Response:
    db = request.app[db_key]
    recent = await list_payments(db, PaymentFilter(), None, 10)
    return page(
        request,
        "admin/dashboard.html",
        {
            **await _figures(request),
            "disputes": await load_open_disputes(db),
            "now_s": time.time(),
            "recent": recent.payments,
        },
    )


@operator_page
async def dashboard_figures(request: web.Request) -> web.Response:
    """The dashboard's figures alone: the open dashboard fetches them again when a payment changes."""
    return page(request, "admin/_figures.html", await _figures(request))


def _products(request: web.Request) -> list[tuple[str, str]]:
    return [(p.id, p.name) for p in request.app[catalog_key].products]


@operator_page
async def payments(request: web.Request) -> web.Response:
    context = {
        "statuses": [str(s) for s in Status],
        "products": _products(request),
        "query": request.query,
    }
    try:
        chosen = parse_filter(request.query)
        after = Cursor.decode(request.query["cursor"]) if request.query.get("cursor") else None
    except FilterError as exc:
        context.update(
            error=exc.message,
            error_field=exc.field,
            filter=PaymentFilter(),
            rows=[],
            next_query=None,
        )
        return page(request, "admin/payments.html", context, status=400)
    found = await list_payments(
        request.app[db_key], chosen, after, request.app[console_key].settings.page_size
    )
    next_query = (
        {**chosen.as_query(), "cursor": found.next_cursor.encode()} if found.next_cursor else None
    )
    context.update(
        error=None,
        error_field=None,
        filter=chosen,
        rows=found.payments,
        next_query=next_query,
        paged=after is not None,
    )
    return page(request, "admin/payments.html", context)


@operator_page
async def payments_csv(request: web.Request) -> web.StreamResponse:
    try:
        chosen = parse_filter(request.query)
    except FilterError as exc:
        raise web.HTTPBadRequest(text=exc.message) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="payments-{time.strftime("%Y%m%d-%H%M%S", time.gmtime())}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    async for chunk in csv_chunks(request.app[db_key], chosen):
        await response.write(chunk)
    await response.write_eof()
    return response


@operator_page
async def health(request: web.Request) -> web.Response:
    db, config = request.app[db_key], request.app[config_key]
    report = await load_health(
        db, request.app[webhook_stats_key], now_ms(), request.app[config_key].webhook_alert_after
    )
    storage = await load_storage(db, config.disk_warning_mb * MB)
    versions = await other_api_versions(db, now_ms() - VERSIONS_WINDOW_MS)
    return page(
        request,
        "admin/health.html",
        {
            "api_version": API_VERSION,
            "other_versions": versions,
            "version_advice": api_version_advice([v.api_version for v in versions]),
            "report": report,
            "storage": storage,
            "warning_mb": config.disk_warning_mb,
            "smtp_host": config.smtp_host,
        },
    )
