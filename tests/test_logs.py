"""Log lines never carry a payment's full id: it opens the customer's status page."""

from __future__ import annotations

import logging

import pytest

from server.logs import RedactingFilter, redact


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
