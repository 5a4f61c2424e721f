"""Logging set-up: one format, and no payment ids or setup tokens in any log line, access log included."""

from __future__ import annotations

import logging
import re

# A payment id opens its status page, so it is treated like a password in logs. (Not "pay_"
# inside a longer token, such as a setup token.)
PAYMENT_ID = re.compile(r"(?<![A-Za-z0-9_-])pay_[A-Za-z0-9_-]{6,}")
# A setup token sets the console password. It is in the setup link's path, and in the Referer
# of the form posted from that page; `token=` covers a link that carries it as a query.
SETUP_TOKEN = re.compile(r"(/admin/setup/|[?&]token=)[^\s\"'?&#/]+")
# The one logger allowed to show a setup token: it prints the link the operator must open.
SETUP_LINK_LOGGER = "server.console.startup"


def redact(text: str, *, setup_tokens: bool = True) -> str:
    text = PAYMENT_ID.sub(lambda m: m.group(0)[:8] + "…", text)
    return SETUP_TOKEN.sub(r"\1…", text) if setup_tokens else text


class RedactingFilter(logging.Filter):
    """Redacts payment ids and setup tokens from every record, whichever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        tokens = record.name != SETUP_LINK_LOGGER
        record.msg = redact(str(record.msg), setup_tokens=tokens)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(a, setup_tokens=tokens) if isinstance(a, str) else a for a in record.args
            )
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
