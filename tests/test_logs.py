"""Log lines never carry a payment's full id: it opens the customer's status page."""

from __future__ import annotations

import logging

import pytest

from server.logs import RedactingFilter, RepeatFilter, redact


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
