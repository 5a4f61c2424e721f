"""Object ids with Stripe's prefixes and shapes."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    """`new_id("pi")` -> "pi_3Pq...": Stripe's ids are a prefix, an underscore and letters/digits."""
    return f"{prefix}_{random_token(length)}"


def checkout_session_id() -> str:
    # Test-mode Checkout Session ids look like cs_test_a1 followed by 58 characters.
    return f"cs_test_a1{random_token(58)}"


def client_secret(payment_intent_id: str) -> str:
    return f"{payment_intent_id}_secret_{random_token(25)}"


def request_id() -> str:
    return new_id("req", 14)
