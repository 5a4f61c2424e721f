"""The health check: which Stripe the app talks to, and whether the database answers."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ...db import DatabaseError
from ..keys import config_key, db_key

log = logging.getLogger(__name__)
DB_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    config = request.app[config_key]
    body = {"mode": config.stripe_mode.value, "test_mode": config.is_test_mode}
    try:
        await asyncio.wait_for(request.app[db_key].ping(), DB_TIMEOUT)
    except (DatabaseError, TimeoutError, ValueError) as exc:
        log.error("health check: database unusable: %s", exc)
        return web.json_response(
            {**body, "status": "unavailable", "database": "unusable"}, status=503
        )
    return web.json_response({**body, "status": "ok", "database": "ok"})
