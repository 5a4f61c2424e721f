"""Typed keys for everything the sandbox shares through its app and its requests."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from .records import Origin
from .state import Sandbox

sandbox_key = web.AppKey("sandbox", Sandbox)
templates_key = web.AppKey("sandbox_templates", jinja2.Environment)

# Set by the API middlewares for each /v1 request.
request_id_key = web.RequestKey("sandbox_request_id", str)
api_key_key = web.RequestKey("sandbox_api_key", str)
params_key = web.RequestKey("sandbox_params", dict[str, Any])
origin_key = web.RequestKey("sandbox_origin", Origin)
