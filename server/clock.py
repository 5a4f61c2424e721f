"""Time as paydesk stores and writes it: milliseconds since the epoch, shown in UTC."""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)


def utc_iso(stamp_ms: int) -> str:
    """'2024-05-31T14:03:09Z': for machines (JSON, CSV)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp_ms / 1000))


def utc_minute(stamp_ms: int) -> str:
    """'2024-05-31 14:03 UTC': for people at a screen (console, commands)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp_ms / 1000))


def utc_second(stamp_ms: int) -> str:
    """'2024-05-31 14:03:09 UTC': where seconds matter (mail retries)."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp_ms / 1000))
