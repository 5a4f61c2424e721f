"""Logging set-up: one format, and no payment capability ids in any log line, access log included."""

from __future__ import annotations

import logging
import re

# A payment id opens its status page, so it is treated like a password in logs.
PAYMENT_ID = re.compile(r"pay_[A-Za-z0-9_-]{6,}")


def redact(text: str) -> str:
    return PAYMENT_ID.sub(lambda m: m.group(0)[:8] + "…", text)


class RedactingFilter(logging.Filter):
    """Redacts payment ids from every record, whichever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg))
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
