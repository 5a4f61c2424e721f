"""Stripe-shaped API errors: one exception type that knows its status and JSON body."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An error answered as `{"error": {...}}` with Stripe's status code, type, code and param."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid_request(
    message: str, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def resource_missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """`kind` is Stripe's object name, as in "No such checkout.session: 'cs_test_...'".

    For an id in the URL, `param` is the path parameter's name in Stripe's OpenAPI spec
    (`/v1/payment_intents/{intent}` -> "intent"; Stripe answers a missing PaymentIntent with
    `"param": "intent"`): session, intent, charge, refund, dispute, webhook_endpoint, and "id"
    for events and balance transactions."""
    return invalid_request(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return invalid_request(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )


def api_error(status: int, message: str = "An unknown error occurred") -> StripeError:
    return StripeError(status, "api_error", message)
