"""Signs webhook payloads exactly as Stripe does, so tests exercise the real verification path."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any


def sign(payload: bytes, secrets: list[str] | str, *, timestamp: int | None = None) -> str:
    """A Stripe-Signature header: t=<unix>, then one v1=<hmac> per secret."""
    stamp = int(time.time()) if timestamp is None else timestamp
    keys = [secrets] if isinstance(secrets, str) else secrets
    signed = f"{stamp}.".encode() + payload
    parts = [f"t={stamp}"] + [
        f"v1={hmac.new(k.encode(), signed, hashlib.sha256).hexdigest()}" for k in keys
    ]
    return ",".join(parts)


def event_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
