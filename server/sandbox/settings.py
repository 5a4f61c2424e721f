"""The sandbox's configuration: one frozen dataclass, validated when it is built."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# The version stripe-python 16.1 pins; events carry it as `api_version`, like an endpoint created
# with that SDK would.
DEFAULT_API_VERSION = "2026-10-28.endive"
DELIVERY_MODES = ("stripe", "exact")


@dataclass(frozen=True)
class SandboxSettings:
    """Everything that changes how the sandbox behaves; every knob has a default that acts like Stripe."""

    # Where browsers reach the sandbox, without a trailing slash; hosted page URLs are built from it.
    public_url: str = "http://127.0.0.1:12111"
    # Where events are POSTed; None records events without delivering them.
    webhook_url: str | None = None
    # Every secret signs each delivery (one `v1=` per secret), as during a Stripe secret rotation.
    webhook_secrets: tuple[str, ...] = ()
    # The event types the configured endpoint is subscribed to, as chosen in Stripe's Dashboard.
    webhook_events: tuple[str, ...] = ("*",)
    api_version: str = DEFAULT_API_VERSION
    # The account's keys, as the Dashboard shows them: the API takes the secret key (and `api_keys`)
    # and answers any other key with Stripe's 401, so a mistyped key fails here as it would there.
    secret_key: str = field(default_factory=lambda: _generated_key("sk_test_"))
    publishable_key: str = field(default_factory=lambda: _generated_key("pk_test_"))
    # Further keys of the same account the API also takes: restricted (rk_test_) or rolled keys.
    api_keys: tuple[str, ...] = ()

    # Stripe's own durations (webhook retries, a refund settling, the balance transaction) are
    # multiplied by this: 1 is Stripe's clock, 0.001 turns its 3 days of retries into 4 minutes.
    time_scale: float = 1.0
    # Webhook retries, in Stripe's seconds (times time_scale): attempt n (1-based) that fails is
    # retried after min(retry_base_delay * retry_factor ** (n - 1), retry_max_delay), up to
    # max_attempts: 1, 2, 4 ... 512 minutes, then every 12 hours, the last try 2.7 days in, as
    # Stripe retries live-mode deliveries for up to three days with exponential backoff.
    retry_base_delay: float = 60.0
    retry_factor: float = 2.0
    retry_max_delay: float = 43200.0
    max_attempts: int = 15
    attempt_timeout: float = 10.0
    # "stripe": like Stripe, which promises neither order nor exactly-once: each event's first
    # attempt waits a random 0..delivery_window seconds (so events close in time overtake each
    # other) and a share `duplicate_rate` of delivered events comes again. "exact": creation
    # order, once, for tests that need order.
    delivery: str = "stripe"
    delivery_window: float = 0.5
    duplicate_rate: float = 0.1
    # The seed of those choices: a new one unless given; the sandbox logs and shows it, so a run
    # can be replayed with it.
    delivery_seed: int = field(default_factory=lambda: secrets.randbelow(1_000_000))
    # 1 keeps deliveries in the order they come due; more lets a slow endpoint be overtaken.
    delivery_concurrency: int = 1
    # Stripe seconds (times time_scale) from a charge's success to its balance transaction
    # (`charge.updated`), and from a pending refund to its outcome.
    balance_transaction_delay: float = 3.0
    refund_settle_delay: float = 30.0

    # Timers, in seconds.
    async_payment_delay: float = 3.0
    dispute_delay: float = 2.0
    dispute_close_delay: float = 30.0
    # Stripe accepts `expires_at` between 30 minutes and 24 hours ahead; tests may lower the minimum.
    min_session_lifetime: float = 1800.0
    max_session_lifetime: float = 86400.0
    # Every API answer waits this long first, to exercise the app's timeouts.
    latency: float = 0.0
    idempotency_key_ttl: float = 86400.0

    def __post_init__(self) -> None:
        _check_http_url("public_url", self.public_url)
        if self.public_url.endswith("/"):
            raise ValueError(f"public_url: {self.public_url!r} must not end with a slash")
        if self.webhook_url is not None:
            _check_http_url("webhook_url", self.webhook_url)
            if not self.webhook_secrets:
                raise ValueError(
                    "webhook_secrets: give at least one whsec_ secret to sign deliveries"
                )
        if isinstance(self.webhook_events, str) or not self.webhook_events:
            raise ValueError('webhook_events: a tuple of event types, or ("*",) for every type')
        if isinstance(self.webhook_secrets, str):
            raise ValueError("webhook_secrets: a tuple of secrets, not one string")
        for secret in self.webhook_secrets:
            if not secret.startswith("whsec_") or len(secret) < 10:
                raise ValueError(f"webhook_secrets: {secret[:6]!r}... is not a whsec_ secret")
        if not self.secret_key.startswith("sk_test_") or len(self.secret_key) <= len("sk_test_"):
            raise ValueError(f"secret_key: {self.secret_key[:8]!r}... is not an sk_test_ key")
        if not self.publishable_key.startswith("pk_test_") or len(self.publishable_key) <= 8:
            raise ValueError(
                f"publishable_key: {self.publishable_key[:8]!r}... is not a pk_test_ key"
            )
        if isinstance(self.api_keys, str):
            raise ValueError("api_keys: a tuple of keys, not one string")
        for key in self.api_keys:
            if not key.startswith(("sk_test_", "rk_test_")) or len(key) <= len("sk_test_"):
                raise ValueError(f"api_keys: {key[:8]!r}... is not an sk_test_ or rk_test_ key")
        _check_non_negative(
            retry_base_delay=self.retry_base_delay,
            retry_max_delay=self.retry_max_delay,
            delivery_window=self.delivery_window,
            balance_transaction_delay=self.balance_transaction_delay,
            refund_settle_delay=self.refund_settle_delay,
            async_payment_delay=self.async_payment_delay,
            dispute_delay=self.dispute_delay,
            dispute_close_delay=self.dispute_close_delay,
            min_session_lifetime=self.min_session_lifetime,
            latency=self.latency,
            idempotency_key_ttl=self.idempotency_key_ttl,
        )
        if self.retry_factor < 1:
            raise ValueError("retry_factor: must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts: must be at least 1")
        if self.attempt_timeout <= 0:
            raise ValueError("attempt_timeout: must be more than 0 seconds")
        if self.delivery_concurrency < 1:
            raise ValueError("delivery_concurrency: must be at least 1")
        if not 0 <= self.duplicate_rate <= 1:
            raise ValueError("duplicate_rate: must be between 0 and 1")
        if self.delivery not in DELIVERY_MODES:
            raise ValueError(
                f"delivery: {self.delivery!r} is not one of {', '.join(DELIVERY_MODES)}"
            )
        if self.time_scale <= 0:
            raise ValueError("time_scale: must be more than 0 (1 is Stripe's own clock)")
        if self.max_session_lifetime < self.min_session_lifetime:
            raise ValueError("max_session_lifetime: must not be below min_session_lifetime")

    def retry_delay(self, attempts_made: int) -> float:
        """Seconds to wait after the `attempts_made`-th failed attempt, scaled."""
        stripe_seconds = min(
            self.retry_base_delay * self.retry_factor ** (attempts_made - 1), self.retry_max_delay
        )
        return stripe_seconds * self.time_scale

    def scaled(self, stripe_seconds: float) -> float:
        """A duration on Stripe's clock, in the sandbox's seconds."""
        return stripe_seconds * self.time_scale


def delivery_summary(settings: SandboxSettings) -> str:
    """How webhooks are delivered, with the seed that replays it, in one line."""
    if settings.delivery == "exact":
        return "exact: in the order events were made, each once"
    return (
        f"like Stripe's: out of order within {settings.delivery_window:g} s, "
        f"{settings.duplicate_rate:.0%} twice, seed {settings.delivery_seed} "
        f"(replay: --delivery-seed {settings.delivery_seed})"
    )


def _generated_key(prefix: str) -> str:
    # Letters and digits only, like Stripe's keys, so a key survives copying from a terminal.
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(32))


def _check_http_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name}: {url!r} is not an http(s) URL")


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name}: must not be negative")
