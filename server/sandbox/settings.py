"""The sandbox's configuration: one frozen dataclass, validated when it is built."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# The version stripe-python 16.1 pins; events carry it as `api_version`, like an endpoint created
# with that SDK would.
DEFAULT_API_VERSION = "2026-10-28.endive"


@dataclass(frozen=True)
class SandboxSettings:
    """Everything that changes how the sandbox behaves; every knob has a default that acts like Stripe."""

    # Where browsers reach the sandbox, without a trailing slash; hosted page URLs are built from it.
    public_url: str = "http://127.0.0.1:12111"
    # Where events are POSTed; None records events without delivering them.
    webhook_url: str | None = None
    # Every secret signs each delivery (one `v1=` per secret), as during a Stripe secret rotation.
    webhook_secrets: tuple[str, ...] = ()
    api_version: str = DEFAULT_API_VERSION
    # Empty: any sk_test_/rk_test_ key is accepted. Otherwise only these, as a Stripe account
    # accepts only its own keys, so a wrong key can be tried.
    api_keys: tuple[str, ...] = ()

    # Webhook retries: attempt n (1-based) that fails is retried after
    # min(retry_base_delay * retry_factor ** (n - 1), retry_max_delay) seconds, up to max_attempts.
    # Stripe spreads retries over three days; this compressed schedule spans about ten minutes.
    retry_base_delay: float = 1.0
    retry_factor: float = 2.0
    retry_max_delay: float = 60.0
    max_attempts: int = 15
    attempt_timeout: float = 10.0
    # 1 keeps deliveries in the order events were created; more lets a slow endpoint be overtaken.
    delivery_concurrency: int = 1
    # Test knobs: deliver a share of events twice, deliver ready events in random order.
    duplicate_rate: float = 0.0
    shuffle: bool = False
    seed: int | None = None

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
        if isinstance(self.webhook_secrets, str):
            raise ValueError("webhook_secrets: a tuple of secrets, not one string")
        for secret in self.webhook_secrets:
            if not secret.startswith("whsec_") or len(secret) < 10:
                raise ValueError(f"webhook_secrets: {secret[:6]!r}... is not a whsec_ secret")
        if isinstance(self.api_keys, str):
            raise ValueError("api_keys: a tuple of keys, not one string")
        for key in self.api_keys:
            if not key.startswith(("sk_test_", "rk_test_")) or len(key) <= len("sk_test_"):
                raise ValueError(f"api_keys: {key[:8]!r}... is not an sk_test_ or rk_test_ key")
        _check_non_negative(
            retry_base_delay=self.retry_base_delay,
            retry_max_delay=self.retry_max_delay,
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
        if self.max_session_lifetime < self.min_session_lifetime:
            raise ValueError("max_session_lifetime: must not be below min_session_lifetime")

    def retry_delay(self, attempts_made: int) -> float:
        """Seconds to wait after the `attempts_made`-th failed attempt."""
        return min(
            self.retry_base_delay * self.retry_factor ** (attempts_made - 1), self.retry_max_delay
        )


def _check_http_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name}: {url!r} is not an http(s) URL")


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name}: must not be negative")
