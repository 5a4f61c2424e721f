"""Logging set-up: text or JSON lines, no payment ids or setup tokens in any, no line repeated in a flood."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable

# A payment id opens its status page, so it is treated like a password in logs. (Not "pay_"
# inside a longer token, such as a setup token.)
PAYMENT_ID = re.compile(r"(?<![A-Za-z0-9_-])pay_[A-Za-z0-9_-]{6,}")
# A setup token sets the console password. It is in the setup link's path, and in the Referer
# of the form posted from that page; `token=` covers a link that carries it as a query.
SETUP_TOKEN = re.compile(r"(/admin/setup/|[?&]token=)[^\s\"'?&#/]+")
# The one logger allowed to show a setup token: it prints the link the operator must open.
SETUP_LINK_LOGGER = "server.console.startup"
STRIPE_SDK_LOGGER = "stripe"
# Loggers whose DEBUG lines carry customers' data: the Stripe SDK logs whole request and response
# bodies (emails, names, addresses); aiosqlite logs each query with its parameters. Their INFO
# lines and above say all an operator needs.
CHATTY_LOGGERS = (STRIPE_SDK_LOGGER, "aiosqlite")


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


class RepeatFilter(logging.Filter):
    """Lets one line of a kind through per window; the next after it says how many were held back.

    Errors and warnings are of a kind when they come from the same place (logger, level, message
    template, exception type), whatever their arguments: a flood of the same failure is one line a
    minute. Info and debug lines are of a kind only when their text is the same, so each payment
    still gets its own line.
    """

    def __init__(
        self,
        window_s: float = 60.0,
        max_kinds: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._window_s = window_s
        self._max_kinds = max_kinds
        self._clock = clock
        self._lock = threading.Lock()
        # kind -> [when its window opened, lines held back since]
        self._seen: dict[tuple[object, ...], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        kind = _kind(record)
        with self._lock:
            seen = self._seen.get(kind)
            if seen is not None and now - seen[0] < self._window_s:
                seen[1] += 1
                return False
            held_back = int(seen[1]) if seen is not None else 0
            recent = seen is not None and now - seen[0] < 2 * self._window_s
            if seen is None and len(self._seen) >= self._max_kinds:
                self._forget_old(now)
            if seen is not None or len(self._seen) < self._max_kinds:
                self._seen[kind] = [now, 0]
        if held_back:
            when = "in the last minute" if recent else "since the last one shown"
            record.msg = f"{record.msg} (and {held_back:,} more like it {when})"
        return True

    def _forget_old(self, now: float) -> None:
        for kind in [k for k, (opened, _) in self._seen.items() if now - opened >= self._window_s]:
            del self._seen[kind]


def _kind(record: logging.LogRecord) -> tuple[object, ...]:
    if record.levelno >= logging.WARNING:
        error = type(record.exc_info[1]).__name__ if record.exc_info else None
        return (record.name, record.levelno, str(record.msg), error)
    return (record.name, record.levelno, record.getMessage())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers that would otherwise split a traceback apart."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            # Exception text is not redacted by the filters (it is rendered here), so it is now.
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 in UTC with milliseconds: what log shippers parse without configuration.
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """The human-readable line; exception text is redacted like the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return redact(super().formatException(ei))


FORMATTERS: dict[str, Callable[[], logging.Formatter]] = {
    "text": TextFormatter,
    "json": JsonFormatter,
}


def setup_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(FORMATTERS[log_format]())
    handler.addFilter(RedactingFilter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.getLevelNamesMapping()[level], logging.INFO))
