"""paydesk's calls to Stripe (or the sandbox) through the async SDK, with failures turned into our terms."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import orjson
import stripe
from prometheus_client import Counter, Histogram
from stripe.params import RefundCreateParams
from stripe.params.checkout import SessionCreateParams, SessionRetrieveParams

from .config import Config
from .lifecycle import Balance, balance_from

log = logging.getLogger(__name__)

# The Stripe API version paydesk is written for: the one the SDK pins. Events rendered in another
# version are read for the fields paydesk uses, and the Health page says so (server/webhooks.py).
API_VERSION: str = stripe.api_version


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the call; `customer_message` is safe to show."""

    def __init__(self, customer_message: str, detail: str) -> None:
        super().__init__(detail)
        self.customer_message = customer_message


@dataclass(frozen=True)
class CheckoutSessionRef:
    id: str
    url: str
    expires_at_s: int  # Stripe's unit: seconds since the epoch


@dataclass(frozen=True)
class RefundRef:
    id: str
    amount: int
    status: str


class RefundRefused(Exception):
    """Stripe refused the refund itself (amount above what remains, payment not refundable)."""


@dataclass(frozen=True)
class SessionRequest:
    """Everything Stripe needs for one Checkout Session; the same request must produce the same params."""

    payment_id: str
    product_id: str
    product_name: str
    product_description: str
    currency: str
    unit_amount: int
    quantity: int
    customer_email: str
    success_url: str
    cancel_url: str
    expires_at_s: int  # Stripe's unit: seconds since the epoch
    # The Stripe Customer this email paid as before (server/customers.py); None: a first checkout.
    stripe_customer: str | None = None

    def params(self, *, save_payment_methods: bool = False) -> SessionCreateParams:
        """`save_payment_methods`: Checkout offers to save the card for the customer's next visit."""
        product_data: dict[str, str] = {"name": self.product_name}
        if self.product_description:  # Stripe rejects an empty description
            product_data["description"] = self.product_description
        metadata = {"payment_id": self.payment_id, "product_id": self.product_id}
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": self.currency,
                        "unit_amount": self.unit_amount,
                        "product_data": product_data,  # type: ignore[typeddict-item]
                    },
                    "quantity": self.quantity,
                }
            ],
            "client_reference_id": self.payment_id,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata, "description": self.product_name},
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
            "expires_at": self.expires_at_s,
        }
        if self.stripe_customer:
            # Stripe refuses `customer_email` beside `customer`: the Customer's email is used.
            params["customer"] = self.stripe_customer
        else:
            # A Customer made at completion, recorded for this email from the completed event.
            params["customer_creation"] = "always"
            params["customer_email"] = self.customer_email
        if save_payment_methods:
            params["saved_payment_method_options"] = {"payment_method_save": "enabled"}
        return params


class StripeCalls:
    """How long each kind of Stripe call took, and which failed how: read by the app's /metrics.

    The metrics are registered nowhere here; each app's registry reads them at scrape time.
    """

    def __init__(self) -> None:
        self.seconds = Histogram(
            "paydesk_stripe_request_seconds",
            "Time a call to the Stripe API took, network retries included, by operation.",
            ["operation"],
            registry=None,
        )
        self.errors = Counter(
            "paydesk_stripe_errors",
            "Stripe API calls that failed, by operation and the SDK's error class.",
            ["operation", "error"],
            registry=None,
        )

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except stripe.StripeError as exc:
            self.errors.labels(operation, type(exc).__name__).inc()
            raise
        finally:
            self.seconds.labels(operation).observe(time.perf_counter() - started)


class StripeGateway:
    def __init__(self, client: stripe.StripeClient, *, save_payment_methods: bool = False) -> None:
        self._client = client
        self._save_payment_methods = save_payment_methods  # SAVE_PAYMENT_METHODS
        self.calls = StripeCalls()

    async def create_checkout_session(
        self, request: SessionRequest, idempotency_key: str
    ) -> CheckoutSessionRef:
        try:
            return await self._create_checkout_session(request, idempotency_key)
        except _UnknownCustomer:
            # The Customer recorded for this email is gone at Stripe (deleted, or made with other
            # keys): the checkout makes a new one, which its completed event records instead.
            log.warning(
                "Stripe does not know customer %s any more; checkout makes a new one",
                request.stripe_customer,
            )
            request = replace(request, stripe_customer=None)
            # Other params, so another key; the same one again for the same retry.
            return await self._create_checkout_session(request, idempotency_key + "-new-customer")

    async def _create_checkout_session(
        self, request: SessionRequest, idempotency_key: str
    ) -> CheckoutSessionRef:
        params = request.params(save_payment_methods=self._save_payment_methods)
        try:
            with self.calls.timed("checkout_session_create"):
                session = await self._client.v1.checkout.sessions.create_async(
                    params, {"idempotency_key": idempotency_key}
                )
        except stripe.InvalidRequestError as exc:
            if (
                request.stripe_customer
                and exc.code == "resource_missing"
                and exc.param == "customer"
            ):
                raise _UnknownCustomer from exc
            raise _refused(exc) from exc
        except stripe.APIConnectionError as exc:
            raise StripeUnavailable(
                "We could not reach our payment provider, so nothing was charged. "
                "Please try again in a minute.",
                f"Stripe unreachable: {exc.user_message or exc}",
            ) from exc
        except stripe.AuthenticationError as exc:
            log.error("Stripe refused the API key; check STRIPE_SECRET_KEY (%s)", exc.user_message)
            raise _refused(exc) from exc
        except stripe.StripeError as exc:
            raise _refused(exc) from exc
        if not session.url:
            raise StripeUnavailable(
                _REFUSED, f"Checkout Session {session.id} came back without a URL"
            )
        return CheckoutSessionRef(id=session.id, url=session.url, expires_at_s=session.expires_at)

    async def payment_id_for_intent(self, intent_id: str) -> str | None:
        """The paydesk payment id in a PaymentIntent's metadata; None when it is not paydesk's."""
        try:
            with self.calls.timed("payment_intent_retrieve"):
                intent = await self._client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise _refused(exc) from exc
        except stripe.APIConnectionError as exc:
            raise StripeUnavailable(
                _REFUSED, f"Stripe unreachable: {exc.user_message or exc}"
            ) from exc
        except stripe.StripeError as exc:
            raise _refused(exc) from exc
        metadata = intent["metadata"]
        return str(metadata["payment_id"]) if metadata and "payment_id" in metadata else None

    async def checkout_session_as_seen(self, session_id: str, timeout_s: float) -> dict[str, Any]:
        """A Checkout Session with its PaymentIntent and that intent's latest charge, as Stripe
        renders them (plain dicts). Raises the SDK's errors: the caller decides what waits."""
        params: SessionRetrieveParams = {
            "expand": ["payment_intent", "payment_intent.latest_charge"]
        }
        with self.calls.timed("checkout_session_retrieve"):
            async with asyncio.timeout(timeout_s):
                session = await self._client.v1.checkout.sessions.retrieve_async(session_id, params)
        if session.last_response is not None:
            return dict(orjson.loads(session.last_response.body))
        return session.to_dict()

    async def create_refund(
        self, intent_id: str, amount: int, reason: str | None, idempotency_key: str, payment_id: str
    ) -> RefundRef:
        """Refund part or all of a payment. RefundRefused: Stripe said no (the message says why)."""
        params: RefundCreateParams = {
            "payment_intent": intent_id,
            "amount": amount,
            "metadata": {"payment_id": payment_id},
        }
        if reason in ("duplicate", "fraudulent", "requested_by_customer"):
            params["reason"] = reason
        try:
            with self.calls.timed("refund_create"):
                refund = await self._client.v1.refunds.create_async(
                    params, {"idempotency_key": idempotency_key}
                )
        except stripe.InvalidRequestError as exc:
            raise RefundRefused(exc.user_message or str(exc)) from exc
        except stripe.APIConnectionError as exc:
            raise StripeUnavailable(
                "Stripe could not be reached, so nothing was refunded. Try again in a minute.",
                f"Stripe unreachable: {exc.user_message or exc}",
            ) from exc
        except stripe.StripeError as exc:
            raise StripeUnavailable(
                "Stripe did not accept the refund just now, so nothing was refunded. Try again in a minute.",
                f"Stripe answered {exc.http_status}: {exc.user_message or exc}",
            ) from exc
        return RefundRef(id=refund.id, amount=refund.amount, status=refund.status or "pending")

    async def balance_transaction(self, txn_id: str, timeout_s: float) -> Balance:
        """A charge's balance transaction: Stripe's fee and the net. Raises the SDK's errors,
        TimeoutError, or ValueError when the answer lacks a figure paydesk needs."""
        with self.calls.timed("balance_transaction_retrieve"):
            async with asyncio.timeout(timeout_s):
                found = await self._client.v1.balance_transactions.retrieve_async(txn_id)
        balance = balance_from(found.to_dict())
        if balance is None:
            raise ValueError(f"balance transaction {txn_id} came without its fee, net or currency")
        return balance


class _UnknownCustomer(Exception):
    """Stripe answered "No such customer" for the Customer a session was asked for."""


_REFUSED = (
    "Our payment provider could not start the checkout, so nothing was charged. "
    "Please try again in a minute; if it keeps happening, contact the shop."
)


def _refused(exc: stripe.StripeError) -> StripeUnavailable:
    detail = f"Stripe answered {exc.http_status}: {exc.user_message or exc}"
    if exc.http_status and exc.http_status < 500:
        # A 4xx on session creation means our request or our account setup is wrong: the operator must act.
        log.error("Stripe refused to create a Checkout Session: %s", detail)
    return StripeUnavailable(_REFUSED, detail)


@asynccontextmanager
async def open_stripe(config: Config) -> AsyncIterator[StripeGateway]:
    """One Stripe HTTP client for the process lifetime, created inside the running loop."""
    http_client = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=config.stripe_timeout))
    client = stripe.StripeClient(
        config.stripe_secret_key,
        base_addresses={"api": config.stripe_api_base},
        http_client=http_client,
        max_network_retries=config.stripe_max_network_retries,
    )
    try:
        yield StripeGateway(client, save_payment_methods=config.save_payment_methods)
    finally:
        await http_client.close_async()


@asynccontextmanager
async def open_stripe_client(config: Config) -> AsyncIterator[stripe.StripeClient]:
    """The bare SDK client, built as `open_stripe` builds it, for one-off commands (`paydesk doctor`)."""
    http_client = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=config.stripe_timeout))
    try:
        yield stripe.StripeClient(
            config.stripe_secret_key,
            base_addresses={"api": config.stripe_api_base},
            http_client=http_client,
            max_network_retries=config.stripe_max_network_retries,
        )
    finally:
        await http_client.close_async()
