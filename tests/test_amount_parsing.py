"""Amounts people type: read the way the shop's customers write them, refused when unsure."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.money import (
    MAX_AMOUNT,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    AmountError,
    default_locale,
    format_amount,
    format_major,
    parse_amount,
)
from tests.amount_cases import CASES, AmountCase

TWO_DECIMAL = ["eur", "usd", "gbp", "chf", "sek", "nok", "dkk", "pln", "inr", "cad", "brl", "mxn"]
CURRENCIES = sorted(ZERO_DECIMAL | THREE_DECIMAL) + TWO_DECIMAL
OTHER_LOCALES = ["de_DE", "en_US", "fr_FR", "de_CH", "en_IN"]
WHERE = [(c, default_locale(c)) for c in CURRENCIES] + [
    (c, locale) for c in CURRENCIES for locale in OTHER_LOCALES
]


def read(typed: str, currency: str, locale: str) -> int | str:
    try:
        return parse_amount(typed, currency, locale)
    except AmountError as exc:
        return exc.kind


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_typed_amounts_are_read_as_the_table_says(case: AmountCase) -> None:
    assert read(case.typed, case.currency, case.locale) == case.expected


@settings(max_examples=3000, deadline=None)
@given(minor=st.integers(1, MAX_AMOUNT), where=st.sampled_from(WHERE))
def test_every_amount_the_page_writes_reads_back(minor: int, where: tuple[str, str]) -> None:
    currency, locale = where
    assert parse_amount(format_major(minor, currency, locale), currency, locale) == minor
    assert parse_amount(format_amount(minor, currency), currency, locale) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "written"),
    [
        (750, "eur", "de_DE", "7,50"),
        (123450, "eur", "de_DE", "1.234,50"),
        (123450, "eur", "en_US", "1,234.50"),
        (123450, "eur", "fr_FR", "1\u202f234,50"),
        (123450, "chf", "de_CH", "1'234.50"),
        (123456750, "inr", "en_IN", "12,34,567.50"),
        (1500, "jpy", "ja_JP", "1,500"),
        (1000, "kwd", "ar_KW", "1.000"),
        (1000, "kwd", "de_DE", "1,000"),
    ],
)
def test_amounts_for_input_boxes_are_written_as_the_locale_writes_them(
    minor: int, currency: str, locale: str, written: str
) -> None:
    assert format_major(minor, currency, locale) == written


@pytest.mark.parametrize(
    ("typed", "currency", "locale", "message"),
    [
        ("1.000", "kwd", "de_DE", "“1.000” could mean 1.000,000 KWD or 1,000 KWD; write it as 1.000,000 or 1,000."),
        ("1,000", "kwd", "en_US", "“1,000” could mean 1,000.000 KWD or 1.000 KWD; write it as 1,000.000 or 1.000."),
        ("1e999990", "eur", "de_DE", "Enter the amount in digits, like 7,50 or 1.234,50."),
        ("-5", "eur", "de_DE", "Enter the amount without a plus or minus sign, like 7,50."),
        ("７", "eur", "de_DE", "Enter the amount with the digits 0 to 9, like 7,50."),
        ("4.99999999999999999999999999999", "eur", "de_DE", "Enter the amount with at most 2 decimals, like 7,50."),
        ("1,5", "jpy", "ja_JP", "Enter a whole amount, without decimals, like 750."),
        ("9" * 40, "usd", "en_US", "That is too long for an amount: use at most 32 characters, like 7.50."),
        ("0", "eur", "de_DE", "Enter an amount greater than zero, like 7,50."),
    ],
)  # fmt: skip
def test_refusals_say_what_to_type(typed: str, currency: str, locale: str, message: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(typed, currency, locale)
    assert str(refused.value) == message


@pytest.mark.parametrize("typed", ["1e999990", "1e999999", "9" * 10_000, "1" + "0" * 32])
def test_huge_numbers_are_answered_at_once(typed: str) -> None:
    started = time.perf_counter()
    with pytest.raises(AmountError):
        parse_amount(typed, "eur", "de_DE")
    assert time.perf_counter() - started < 0.05
