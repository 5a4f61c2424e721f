"""Log lines, text or JSON: no payment's full id or setup token, no floods, no Stripe bodies."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from server.config import ConfigError, load_config
from server.logs import FORMATTERS, RedactingFilter, RepeatFilter, redact, setup_logging


def test_payment_ids_are_cut_short() -> None:
    line = 'GET /payments/pay_AbCdEfGhIjKlMnOpQrStUvWx/live HTTP/1.1" 101'
    assert redact(line) == 'GET /payments/pay_AbCd…/live HTTP/1.1" 101'


def test_the_filter_redacts_message_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("paydesk-test")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("checkout for payment %s not started", "pay_AbCdEfGhIjKlMnOpQrStUvWx")
        logger.info("access pay_ZyXwVuTsRqPoNmLkJiHgFeDc done")
    assert "pay_AbCdEfGhIjKlMnOpQrStUvWx" not in caplog.text
    assert "pay_ZyXwVuTsRqPoNmLkJiHgFeDc" not in caplog.text
    assert caplog.text.count("pay_") == 2


TOKEN = "xTlaIVIwEtjD3625f5QRZvznAWb4Viui30RvXTzIZUE"


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        (
            f'127.0.0.1 "GET /admin/setup/{TOKEN} HTTP/1.1" 200 "-" "Firefox"',
            '127.0.0.1 "GET /admin/setup/… HTTP/1.1" 200 "-" "Firefox"',
        ),
        (  # the form posted from the setup page names it in its Referer
            f'"POST /admin/setup/{TOKEN} HTTP/1.1" 303 "https://pay.example/admin/setup/{TOKEN}"',
            '"POST /admin/setup/… HTTP/1.1" 303 "https://pay.example/admin/setup/…"',
        ),
        (
            f'"GET /admin/setup?token={TOKEN}&x=1 HTTP/1.1"',
            '"GET /admin/setup?token=…&x=1 HTTP/1.1"',
        ),
    ],
)
def test_setup_tokens_are_taken_out(line: str, redacted: str) -> None:
    assert redact(line) == redacted


def test_only_the_setup_link_itself_shows_its_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactingFilter())
    link = f"http://127.0.0.1:8080/admin/setup/{TOKEN}"
    with caplog.at_level(logging.INFO):
        logging.getLogger("server.console.startup").warning("Open this link: %s", link)
        logging.getLogger("aiohttp.access").info(f'"GET /admin/setup/{TOKEN} HTTP/1.1" 200')
        logging.getLogger("server.console.views").info("setup page for %s", link)
    lines = caplog.text.splitlines()
    assert [line for line in lines if TOKEN in line] == [lines[0]]
    assert lines[0].endswith(f"Open this link: {link}")


def test_pay_inside_a_longer_token_is_not_a_payment_id() -> None:
    assert redact("abcpay_AbCdEfGhIjKl", setup_tokens=False) == "abcpay_AbCdEfGhIjKl"


# -- A flood of the same line is one line a minute, with a count -----------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_one_error_is_one_line_then_a_count() -> None:
    clock = FakeClock()
    repeat = RepeatFilter(clock=clock)
    logger = logging.getLogger("paydesk-test")

    def record(path: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logger.makeRecord(logger.name, level, __file__, 1, "failed %s", (path,), None)

    shown = [r for i in range(5000) if repeat.filter(r := record(f"/checkout/{i}"))]
    assert len(shown) == 1
    clock.now += 61
    later = record("/checkout/last")
    assert repeat.filter(later)
    assert later.getMessage() == (
        "failed /checkout/last (and 4,999 more like it in the last minute)"
    )


def test_info_lines_that_differ_all_show_and_identical_ones_do_not() -> None:
    repeat = RepeatFilter(clock=FakeClock())
    logger = logging.getLogger("paydesk-test")

    def info(text: str) -> logging.LogRecord:
        return logger.makeRecord(logger.name, logging.INFO, __file__, 1, "paid %s", (text,), None)

    assert all(repeat.filter(info(f"order {i}")) for i in range(100))
    assert [repeat.filter(info("order 7")) for _ in range(3)] == [False, False, False]


# -- LOG_FORMAT=json: one object per line, redacted like the text lines ----------------------


def formatted(log_format: str, record: logging.LogRecord) -> str:
    handler = logging.StreamHandler()
    handler.setFormatter(FORMATTERS[log_format]())
    handler.addFilter(RedactingFilter())
    assert handler.filter(record)
    return handler.format(record)


def failed_record() -> logging.LogRecord:
    logger = logging.getLogger("server.webhooks")
    try:
        raise ValueError("no row for pay_AbCdEfGhIjKlMnOpQrStUvWx")
    except ValueError:
        return logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "could not apply %s",
            ("pay_AbCdEfGhIjKlMnOpQrStUvWx",),
            sys.exc_info(),
        )


def test_a_json_line_has_time_level_logger_message_and_the_exception() -> None:
    line = formatted("json", failed_record())
    assert "\n" not in line  # a traceback stays inside its one line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "server.webhooks"
    assert entry["message"] == "could not apply pay_AbCd…"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: no row for pay_AbCd…")


def test_exception_text_is_redacted_in_text_lines_too() -> None:
    line = formatted("text", failed_record())
    assert "pay_AbCdEfGhIjKlMnOpQrStUvWx" not in line
    assert line.endswith("ValueError: no row for pay_AbCd…")


@pytest.mark.parametrize(("raw", "expected"), [("json", "json"), ("JSON", "json"), ("", "text")])
def test_log_format_is_text_or_json(raw: str, expected: str) -> None:
    env = {"LOG_FORMAT": raw} if raw else {}
    assert load_config(env, env_file=None).log_format == expected


def test_another_log_format_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"LOG_FORMAT: expected text .* or json .* got 'logfmt'"):
        load_config({"LOG_FORMAT": "logfmt"}, env_file=None)


def test_stripe_request_and_response_bodies_stay_out_even_at_debug() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("DEBUG", "json")
        assert root.isEnabledFor(logging.DEBUG)
        # Its DEBUG lines are whole bodies: a customer's email, name and address.
        assert not logging.getLogger("stripe").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("stripe").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("stripe").setLevel(logging.NOTSET)
