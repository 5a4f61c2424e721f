"""GET /metrics: paydesk's figures in Prometheus text format, for a console API token only.

`setup_metrics(app)` adds the route, its registry (one per app, never the process-wide default)
and the middleware that times the webhook route, so the webhook view itself stays as it is.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable, Iterator

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..console.api_tokens import find_api_token
from ..console.keys import console_key
from ..metrics_figures import OutboxFigures, outbox_figures, payments_by_status
from .keys import db_key, mail_sender_key, status_pages_key, stripe_key, webhook_stats_key

WEBHOOK_ROUTE = "stripe_webhook"
# What a 200 answer's body may say (docs/webhooks-and-live-status.md); anything else is "other".
ACCEPTED_OUTCOMES = frozenset(("applied", "unchanged", "ignored", "duplicate"))
UNAUTHORIZED = "Send a console API token as 'Authorization: Bearer pdk_...' (paydesk create-token)."


class _Figures(Collector):
    """Every figure of one app; the database's are read by the handler just before each scrape."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self.payments: dict[str, int] = {}
        self.outbox = OutboxFigures(0, 0, 0, 0)

    def describe(self) -> Iterable[Metric]:
        return ()  # the names depend on the app's state: nothing to gather at registration

    def collect(self) -> Iterator[Metric]:
        app = self._app
        stats = app[webhook_stats_key]
        yield _labelled(
            CounterMetricFamily,
            "paydesk_webhooks_received",
            "Webhook calls answered, by outcome: applied, unchanged, ignored, duplicate, "
            "rejected (bad signature or body), or http_<status> for any other answer.",
            "outcome",
            stats.answered_total,
        )
        yield _labelled(
            CounterMetricFamily,
            "paydesk_webhooks_rejected",
            "Webhook calls refused before reading the event, by reason.",
            "reason",
            stats.rejected_total,
        )
        yield from stats.handling_seconds.collect()
        if stripe_key in app:
            yield from app[stripe_key].calls.seconds.collect()
            yield from app[stripe_key].calls.errors.collect()
        yield _labelled(
            GaugeMetricFamily,
            "paydesk_payments",
            "Payments in the database, by status.",
            "status",
            self.payments,
        )
        sockets = {"console": app[console_key].feed.hub.count}
        if status_pages_key in app:
            sockets["status_page"] = app[status_pages_key].hub.count
        yield _labelled(
            GaugeMetricFamily,
            "paydesk_live_sockets",
            "Open live sockets: customers' status pages and operators' console feeds.",
            "audience",
            sockets,
        )
        outbox = self.outbox
        yield _labelled(
            GaugeMetricFamily,
            "paydesk_outbox_messages",
            "Mail not delivered: pending (will be tried again) and failed (given up on).",
            "status",
            {"pending": outbox.pending, "failed": outbox.failed},
        )
        yield GaugeMetricFamily(
            "paydesk_outbox_oldest_pending_age_seconds",
            "Age of the oldest mail still pending; 0 when none is.",
            value=outbox.oldest_pending_age_ms / 1000,
        )
        yield GaugeMetricFamily(
            "paydesk_mail_failed_attempts",
            "Delivery attempts that failed, counted over mail still pending or given up on.",
            value=outbox.failed_attempts,
        )
        if mail_sender_key in app:
            yield CounterMetricFamily(
                "paydesk_mail_send_failures",
                "Delivery attempts this process made that the mail server did not take, "
                "whether or not a later attempt succeeded.",
                value=app[mail_sender_key].failed_attempts,
            )


def _labelled(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    label: str,
    values: dict[str, int],
) -> Metric:
    metric = family(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        metric.add_metric([key], value)
    return metric


def setup_metrics(app: web.Application) -> None:
    """Add GET /metrics and the webhook timing middleware to `app`."""
    registry = CollectorRegistry(auto_describe=False)
    figures = _Figures(app)
    registry.register(figures)

    async def metrics(request: web.Request) -> web.Response:
        if not await _has_token(request):
            # Returned, not raised: the error pages would drop WWW-Authenticate.
            return web.Response(
                status=401,
                text=UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Bearer realm="paydesk metrics"'},
            )
        db = request.app[db_key]
        payments, outbox = await payments_by_status(db), await outbox_figures(db)
        # No await from here on: a scrape running alongside cannot swap the figures mid-way.
        figures.payments, figures.outbox = payments, outbox
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", metrics, name="metrics")
    app.middlewares.append(_time_webhooks)


async def _has_token(request: web.Request) -> bool:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return False
    return await find_api_token(request.app[db_key], secret) is not None


@web.middleware
def _time_webhooks(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Count and time each webhook call by its answer; other routes pass straight through.

    They get the handler's coroutine back unawaited (aiohttp awaits it), so a live socket keeps
    no frame of this one alive.
    """
    if request.match_info.route.name != WEBHOOK_ROUTE:
        return handler(request)
    return _timed_webhook(request, handler)


async def _timed_webhook(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    outcome = "http_500"  # unless the answer says otherwise: the handler raised
    try:
        response = await handler(request)
        outcome = _outcome(response)
        return response
    except web.HTTPException as exc:
        outcome = _outcome_of_status(exc.status)
        raise
    finally:
        request.app[webhook_stats_key].answered(outcome, time.perf_counter() - started)


def _outcome(response: web.StreamResponse) -> str:
    if response.status != 200:
        return _outcome_of_status(response.status)
    body = response.body if isinstance(response, web.Response) else None
    try:
        said = orjson.loads(body) if isinstance(body, bytes) else None
    except orjson.JSONDecodeError:
        said = None
    outcome = said.get("outcome") if isinstance(said, dict) else None
    return outcome if outcome in ACCEPTED_OUTCOMES else "other"


def _outcome_of_status(status: int) -> str:
    return "rejected" if status == 400 else f"http_{status}"
