"""One table of typed amounts and how they must be read, shared by the server's and the page's parser.

Each row: what a person typed, the currency, the shop's locale, and either the amount in minor
units or the kind of refusal (AmountError.kind, the page parser's `error`).
"""

from __future__ import annotations

from typing import NamedTuple


class AmountCase(NamedTuple):
    typed: str
    currency: str
    locale: str
    expected: int | str  # minor units, or the kind of refusal

    @property
    def id(self) -> str:
        return f"{self.typed!r}-{self.currency}-{self.locale}"


CASES = [
    # A decimal comma where the shop's customers write one.
    AmountCase("7,50", "eur", "de_DE", 750),
    AmountCase("12,5", "eur", "de_DE", 1250),
    AmountCase("2,50", "eur", "de_DE", 250),
    AmountCase("1.234,50", "eur", "de_DE", 123450),
    AmountCase("1.234.567,89", "eur", "de_DE", 123456789),
    AmountCase("1.234", "eur", "de_DE", 123400),
    AmountCase("  25 ", "eur", "de_DE", 2500),
    AmountCase("007,50", "eur", "de_DE", 750),
    # The other convention, where only it reads the text as a euro amount.
    AmountCase("7.50", "eur", "de_DE", 750),
    AmountCase("1,234.50", "eur", "de_DE", 123450),
    # Where the shop's own way reads a decimal, too many decimals is a slip, never thousands.
    AmountCase("1,000", "eur", "de_DE", "decimals"),
    AmountCase("7,505", "eur", "de_DE", "decimals"),
    # Exactly as the page displays an amount, currency sign and all.
    AmountCase("€1,234.50", "eur", "de_DE", 123450),
    AmountCase("€7.50", "eur", "de_DE", 750),
    AmountCase("€7,50", "eur", "de_DE", "not_a_number"),
    AmountCase("7,50 €", "eur", "de_DE", "not_a_number"),
    # Refused before any number is built.
    AmountCase("1e3", "eur", "de_DE", "not_a_number"),
    AmountCase("1e999990", "eur", "de_DE", "not_a_number"),
    AmountCase("1E+5", "eur", "de_DE", "not_a_number"),
    AmountCase("-5", "eur", "de_DE", "sign"),
    AmountCase("+5", "eur", "de_DE", "sign"),
    AmountCase("\u22125", "eur", "de_DE", "sign"),
    AmountCase("７,５０", "eur", "de_DE", "digits"),
    AmountCase("٧٫٥", "eur", "de_DE", "digits"),
    AmountCase("1" * 33, "eur", "de_DE", "too_long"),
    AmountCase("x" * 40, "eur", "de_DE", "too_long"),
    AmountCase("", "eur", "de_DE", "empty"),
    AmountCase("   ", "eur", "de_DE", "empty"),
    AmountCase("abc", "eur", "de_DE", "not_a_number"),
    AmountCase("nan", "eur", "de_DE", "not_a_number"),
    AmountCase("Infinity", "eur", "de_DE", "not_a_number"),
    AmountCase(",", "eur", "de_DE", "not_a_number"),
    AmountCase("1_000", "eur", "de_DE", "not_a_number"),
    AmountCase("7,5,0", "eur", "de_DE", "not_a_number"),
    AmountCase("1.2.3", "eur", "de_DE", "not_a_number"),
    # Compared exactly: more decimals than the currency has is refused, never rounded.
    AmountCase("4.99999999999999999999999999999", "eur", "de_DE", "decimals"),
    AmountCase("1.2345", "eur", "de_DE", "decimals"),
    AmountCase("0", "eur", "de_DE", "zero"),
    AmountCase("0,00", "eur", "de_DE", "zero"),
    # Spaces and other group separators.
    AmountCase("1 234,50", "eur", "fr_FR", 123450),
    AmountCase("1\u202f234,50", "eur", "fr_FR", 123450),
    AmountCase("1\u00a0234,50", "eur", "fr_FR", 123450),
    AmountCase("12 34,50", "eur", "fr_FR", "not_a_number"),
    AmountCase("1'234.50", "chf", "de_CH", 123450),
    AmountCase("7.50", "chf", "de_CH", 750),
    AmountCase("7,50", "chf", "de_CH", 750),
    AmountCase("12,34,567.50", "inr", "en_IN", 123456750),
    AmountCase("₹1,234,567.50", "inr", "en_IN", 123456750),
    AmountCase("1,234.50", "usd", "en_US", 123450),
    AmountCase("7,50", "usd", "en_US", 750),
    AmountCase("$7.50", "usd", "en_US", 750),
    AmountCase("12,50", "sek", "sv_SE", 1250),
    AmountCase("12.50 SEK", "sek", "sv_SE", 1250),
    # Whole-number currencies.
    AmountCase("1500", "jpy", "ja_JP", 1500),
    AmountCase("1,500", "jpy", "ja_JP", 1500),
    AmountCase("1.500", "jpy", "ja_JP", "decimals"),
    AmountCase("¥1,500", "jpy", "ja_JP", 1500),
    AmountCase("1,5", "jpy", "ja_JP", "decimals"),
    AmountCase("10.5", "jpy", "ja_JP", "decimals"),
    # Three-decimal currencies: "1.000" and "1,000" can each be read two ways.
    AmountCase("1.000", "kwd", "ar_KW", 1000),
    AmountCase("1,000", "kwd", "ar_KW", "ambiguous"),
    AmountCase("1,000.000", "kwd", "ar_KW", 1000000),
    AmountCase("1.000 KWD", "kwd", "ar_KW", 1000),
    AmountCase("1.000", "kwd", "de_DE", "ambiguous"),
    AmountCase("1,000", "kwd", "de_DE", 1000),
    AmountCase("1.000,000", "kwd", "de_DE", 1000000),
    AmountCase("1.000 KWD", "kwd", "de_DE", 1000),
    AmountCase("1,5", "kwd", "ar_KW", 1500),
    AmountCase("12.345", "tnd", "ar_TN", "ambiguous"),
    AmountCase("12,345", "tnd", "ar_TN", 12345),
]
