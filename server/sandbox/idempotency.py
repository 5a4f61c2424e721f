"""Idempotency-Key on POSTs: replay the first answer, refuse reuse with other params or in flight."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .api_base import error_response, is_api, relative_path
from .errors import StripeError
from .keys import api_key_key, params_key, request_id_key

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str


@dataclass
class _Entry:
    endpoint: str
    params: dict[str, Any]
    created: float
    request_id: str
    answer: _Answer | None = None  # None while the first request is still running


def _idempotency_error(status: int, message: str, code: str | None = None) -> StripeError:
    return StripeError(status, "idempotency_error", message, code=code)


def _worth_keeping(status: int) -> bool:
    """Stripe saves an answer once the endpoint began executing: successes and card declines.
    Validation errors (and injected faults, which stand for failures before execution) are not
    saved, so a retry with the same key runs again."""
    return 200 <= status < 300 or status == 402


class IdempotencyStore:
    """Keys per API key, kept for `ttl` seconds (24 hours at Stripe)."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[tuple[str, str], _Entry] = {}

    def _forget_expired(self, now: float) -> None:
        expired = [
            scope for scope, entry in self._entries.items() if now - entry.created > self._ttl
        ]
        for scope in expired:
            if self._entries[scope].answer is not None:
                del self._entries[scope]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not is_api(request) or not key:
            return await handler(request)
        if len(key) > MAX_KEY_LENGTH:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Idempotency key is too long: keys can be at most {MAX_KEY_LENGTH} characters.",
            )
        now = time.time()
        self._forget_expired(now)
        scope = (request[api_key_key], key)
        endpoint = f"{request.method} {relative_path(request)}"
        params = request[params_key]
        entry = self._entries.get(scope)
        if entry is not None:
            return self._replay(entry, endpoint, params, key)

        entry = _Entry(endpoint, params, now, request[request_id_key])
        self._entries[scope] = entry
        kept = False
        try:
            try:
                response = await handler(request)
            except StripeError as error:
                response = error_response(error)
            if isinstance(response, web.Response) and _worth_keeping(response.status):
                body = response.body if isinstance(response.body, bytes) else b""
                entry.answer = _Answer(response.status, body, response.content_type)
                kept = True
            return response
        finally:
            if not kept:
                del self._entries[scope]

    @staticmethod
    def _replay(
        entry: _Entry, endpoint: str, params: dict[str, Any], key: str
    ) -> web.StreamResponse:
        if entry.endpoint != endpoint:
            raise _idempotency_error(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{entry.endpoint}' vs '{endpoint}'). Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
            )
        if entry.params != params:
            raise _idempotency_error(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try using a key other than '{key}' if you meant to execute a "
                "different request.",
            )
        if entry.answer is None:
            raise _idempotency_error(
                409,
                "There is currently another in-progress request using this Idempotent Key (that "
                "probably means you submitted twice, and the other request is still going "
                f"through): {key}. Please try again later.",
                code="idempotency_key_in_use",
            )
        response = web.Response(
            body=entry.answer.body,
            status=entry.answer.status,
            content_type=entry.answer.content_type,
        )
        response.headers["Idempotent-Replayed"] = "true"
        response.headers["Original-Request"] = entry.request_id
        return response
