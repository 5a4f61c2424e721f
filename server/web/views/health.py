"""The health check: which Stripe the app talks to, whether the database answers and takes writes,
and whether Stripe's webhooks arrive."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ...clock import now_ms
from ...db import DatabaseError
from ...stripe_gateway import API_VERSION
from ...webhooks import VERSIONS_WINDOW_MS, api_version_advice, other_api_versions, webhook_alarm
from ..keys import config_key, db_key, webhook_stats_key

log = logging.getLogger(__name__)
DB_TIMEOUT = 2.0
MB = 1024 * 1024


async def healthz(request: web.Request) -> web.Response:
    config = request.app[config_key]
    db = request.app[db_key]
    body: dict[str, object] = {"mode": config.stripe_mode.value, "test_mode": config.is_test_mode}
    try:
        await asyncio.wait_for(db.ping(), DB_TIMEOUT)
    except (DatabaseError, TimeoutError, ValueError) as exc:
        log.error("health check: database unusable: %s", exc)
        return web.json_response(
            {**body, "status": "unavailable", "database": "unusable"}, status=503
        )
    # Anyone may ask: the write check runs at most once a second, whatever the rate of asking.
    check = await db.check_writes()
    if check.free_bytes >= 0:  # -1: on PostgreSQL, whose disk is its own server's to watch
        body["disk_free_mb"] = check.free_bytes // MB
        body["disk"] = "low" if check.free_bytes < config.disk_warning_mb * MB else "ok"
    if not check.writable:
        # Not logged here: the database logs one line when writes start failing and one when
        # they work again, however often this is asked in between.
        return web.json_response(
            {**body, "status": "unavailable", "database": "unwritable", "problem": check.problem},
            status=503,
        )
    # Still 200: payments are confirmed through Stripe's API meanwhile, but it must be seen.
    alert_after_s = config.webhook_alert_after
    mismatches = request.app[webhook_stats_key].mismatch_streak(alert_after_s)
    alarm = await webhook_alarm(db, now_ms(), alert_after_s, mismatches)
    if alarm is None:
        body["webhooks"] = "ok"
    else:
        body["webhooks"] = "not arriving"
        body["webhook_problem"] = alarm.reason
    others = await other_api_versions(db, now_ms() - VERSIONS_WINDOW_MS)
    if others:
        # Still 200: the events are applied; the operator should align the endpoint's version.
        body["api_version"] = API_VERSION
        body["api_version_warning"] = api_version_advice([v.api_version for v in others])
    return web.json_response({**body, "status": "ok", "database": "ok"})
