"""Sign webhook payloads exactly as Stripe does, so the SDK's verifier accepts them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def signature(payload: bytes, secret: str, timestamp: int) -> str:
    """HMAC-SHA256 of "{t}.{payload}", keyed with the whole whsec_ string, in hex."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """`t=...,v1=...`, one v1 per secret: during a rotation each secret's signature is sent."""
    parts = [f"t={timestamp}"]
    parts += [f"v1={signature(payload, secret, timestamp)}" for secret in secrets]
    return ",".join(parts)
