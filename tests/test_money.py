"""Money in minor units: display per currency and parsing what customers type."""

from __future__ import annotations

import pytest

from server.money import AmountError, default_locale, format_amount, format_major, parse_amount


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
    ("typed", "currency", "locale", "minor"),
    [
        ("25", "eur", "de_DE", 2500),
        ("25,5", "eur", "de_DE", 2550),
        ("25.5", "eur", "en_IE", 2550),
        ("1.250,00", "eur", "de_DE", 125000),
        ("1,250.00", "usd", "en_US", 125000),
        ("€10.00", "eur", "de_DE", 1000),
        ("1500", "jpy", "ja_JP", 1500),
        ("1.5", "kwd", "ar_KW", 1500),
    ],
)
def test_parse_amount(typed: str, currency: str, locale: str, minor: int) -> None:
    assert parse_amount(typed, currency, locale) == minor
    assert parse_amount(format_major(minor, currency, locale), currency, locale) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "reason"),
    [
        ("abc", "eur", "in digits"),
        ("-5", "eur", "without a plus or minus sign"),
        ("0", "eur", "greater than zero"),
        ("10,0001", "eur", "at most 2 decimals"),
        ("10,5", "jpy", "whole amount"),
        ("nan", "eur", "in digits"),
        ("", "eur", "Enter an amount"),
    ],
)
def test_parse_amount_refuses(typed: str, currency: str, reason: str) -> None:
    with pytest.raises(AmountError, match=reason):
        parse_amount(typed, currency, "de_DE")


@pytest.mark.parametrize(
    ("currency", "locale"),
    [("eur", "de_DE"), ("usd", "en_US"), ("gbp", "en_GB"), ("jpy", "ja_JP"), ("chf", "de_CH"),
     ("sek", "sv_SE"), ("kwd", "ar_KW"), ("xyz", "en_US")],
)  # fmt: skip
def test_default_locale_per_currency(currency: str, locale: str) -> None:
    assert default_locale(currency) == locale
