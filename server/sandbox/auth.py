"""API keys: the API and the control routes take only this sandbox's own keys, as Stripe does."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web
from aiohttp.typedefs import Handler

from .api_base import is_api
from .errors import StripeError
from .keys import api_key_key, sandbox_key
from .settings import SandboxSettings

CONTROL_PREFIX = "control."

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
PUBLISHABLE_KEY = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. You "
    "can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)


def _unauthorized(message: str) -> StripeError:
    return StripeError(
        401,
        "invalid_request_error",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
    )


def api_key_from(authorization: str | None) -> str | None:
    """Stripe takes the key as a Bearer token or as the Basic-auth user name."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def masked(key: str) -> str:
    """ "sk_live_abc...wxyz" -> "sk_live_***...wxyz", as Stripe echoes a refused key."""
    prefix_end = key.find("_", key.find("_") + 1) + 1
    visible_tail = key[-4:] if len(key) > prefix_end + 4 else ""
    return key[:prefix_end] + "*" * (len(key) - prefix_end - len(visible_tail)) + visible_tail


def refusal(settings: SandboxSettings, key: str | None) -> str | None:
    """Stripe's message for a key this account does not take, or None for one of its own."""
    if key is None:
        return NO_KEY
    if key == settings.publishable_key:
        return PUBLISHABLE_KEY
    if key != settings.secret_key and key not in settings.api_keys:
        # Live keys and other accounts' keys alike: Stripe cannot tell a typo from a stranger.
        return f"Invalid API Key provided: {masked(key)}"
    return None


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_api(request):
        return await handler(request)
    key = api_key_from(request.headers.get("Authorization"))
    message = refusal(request.app[sandbox_key].settings, key)
    if message is not None:
        raise _unauthorized(message)
    assert key is not None
    request[api_key_key] = key
    return await handler(request)


@web.middleware
async def require_control_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The control routes move time, inject faults and resend events: the secret key only."""
    name = request.match_info.route.name
    if name is None or not name.startswith(CONTROL_PREFIX):
        return await handler(request)
    key = api_key_from(request.headers.get("Authorization"))
    if key != request.app[sandbox_key].settings.secret_key:
        return web.json_response(
            {"error": "send the sandbox's secret key: 'Authorization: Bearer sk_test_...'"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="Stripe sandbox control"'},
        )
    return await handler(request)
