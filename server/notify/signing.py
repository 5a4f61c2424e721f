"""The Paydesk-Signature header: HMAC-SHA256 of `timestamp.body`, as Stripe signs its webhooks."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Paydesk-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp` (unix seconds): `t=...,v1=...`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
