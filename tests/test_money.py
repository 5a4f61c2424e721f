"""Money in minor units: display per currency and parsing what customers type."""

from __future__ import annotations

import pytest

from server.money import format_amount, format_major, parse_major


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1500, "eur", "€15.00"),
        (1500, "jpy", "¥1,500"),
        (123456789, "usd", "$1,234,567.89"),
        (1234, "kwd", "1.234 KWD"),
        (999, "sek", "9.99 SEK"),
        (5, "gbp", "£0.05"),
    ],
)
def test_format_amount(amount: int, currency: str, shown: str) -> None:
    assert format_amount(amount, currency) == shown


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("25", "eur", 2500),
        ("25.5", "eur", 2550),
        ("1,250.00", "usd", 125000),
        ("€ 10", "eur", 1000),
        ("1500", "jpy", 1500),
        ("1.5", "kwd", 1500),
    ],
)
def test_parse_major(typed: str, currency: str, minor: int) -> None:
    assert parse_major(typed, currency) == minor
    assert parse_major(format_major(minor, currency), currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "reason"),
    [
        ("abc", "eur", "as a number"),
        ("-5", "eur", "greater than zero"),
        ("0", "eur", "greater than zero"),
        ("10.001", "eur", "at most 2 decimals"),
        ("10.5", "jpy", "whole amount"),
        ("nan", "eur", "greater than zero"),
        ("", "eur", "as a number"),
    ],
)
def test_parse_major_refuses(typed: str, currency: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_major(typed, currency)
