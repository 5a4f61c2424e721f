"""At start: when no console password is set, log a one-time link to set one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ..web.keys import config_key, db_key
from .keys import console_key
from .sessions import create_setup_token, has_password
from .wording import minutes_to_wait

log = logging.getLogger(__name__)


async def setup_link_ctx(app: web.Application) -> AsyncIterator[None]:
    if db_key not in app:
        raise RuntimeError(
            "setup_console(app) must be called after create_app appends database_ctx to cleanup_ctx"
        )
    db = app[db_key]
    if not await has_password(db):
        lifetime = app[console_key].settings.setup_link_seconds
        token = await create_setup_token(db, lifetime)
        link = app[config_key].public_url + str(app.router["admin.setup"].url_for(token=token))
        log.warning(
            "No console password is set. Open this one-time link within %s to set it: %s "
            "(or run: paydesk set-password)",
            minutes_to_wait(lifetime),
            link,
        )
    yield
