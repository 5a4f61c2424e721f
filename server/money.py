"""Amounts in integer minor units: currency exponents, parsing what people type, and display."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import NumberFormatError, format_decimal, parse_decimal

# Stripe's zero-decimal and three-decimal currencies; every other currency has two decimals.
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
SYMBOLS = {
    "usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩",
    "cad": "CA$", "aud": "A$", "nzd": "NZ$", "chf": "CHF ", "brl": "R$",
}  # fmt: skip
MAX_AMOUNT = 99_999_999  # Stripe's largest amount in minor units (eight digits)
MAX_TYPED = 32  # characters; longer text is refused before any number work

# The usual locale of each currency's customers; a shop sets LOCALE when its customers differ.
DEFAULT_LOCALES = {
    "eur": "de_DE", "usd": "en_US", "gbp": "en_GB", "jpy": "ja_JP", "chf": "de_CH",
    "sek": "sv_SE", "nok": "nb_NO", "dkk": "da_DK", "pln": "pl_PL", "czk": "cs_CZ",
    "huf": "hu_HU", "ron": "ro_RO", "bgn": "bg_BG", "isk": "is_IS", "try": "tr_TR",
    "cad": "en_CA", "aud": "en_AU", "nzd": "en_NZ", "inr": "en_IN", "sgd": "en_SG",
    "hkd": "en_HK", "zar": "en_ZA", "brl": "pt_BR", "mxn": "es_MX", "clp": "es_CL",
    "pyg": "es_PY", "krw": "ko_KR", "vnd": "vi_VN", "ugx": "en_UG", "rwf": "rw_RW",
    "bif": "fr_BI", "djf": "fr_DJ", "gnf": "fr_GN", "kmf": "fr_KM", "mga": "mg_MG",
    "vuv": "en_VU", "xaf": "fr_CM", "xof": "fr_SN", "xpf": "fr_PF", "bhd": "ar_BH",
    "jod": "ar_JO", "kwd": "ar_KW", "omr": "ar_OM", "tnd": "ar_TN",
}  # fmt: skip
FALLBACK_LOCALE = "en_US"
DISPLAY_LOCALE = "en_US"  # format_amount writes numbers this way: '€1,234.50'
SPACES = " \u00a0\u202f"  # a typed space stands for a locale's space-like group separator
SIGNS = "+-\u2212"


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has."""
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def format_amount(amount: int, currency: str) -> str:
    """'€15.00', '¥1,500', '12.50 SEK': grouping and decimals right for the currency."""
    places = exponent(currency)
    # Integers only: Decimal would make a decimal context for the calling task, which a live
    # status page's task then keeps (~350 bytes) for as long as the page stays open.
    whole, minor = divmod(abs(amount), 10**places)
    number = f"{'-' if amount < 0 else ''}{whole:,}" + (f".{minor:0{places}d}" if places else "")
    prefix, suffix = display_marks(currency)
    if amount < 0 and prefix:
        return f"-{prefix}{number[1:]}"
    return f"{prefix}{number}{suffix}"


def display_marks(currency: str) -> tuple[str, str]:
    """What format_amount writes before and after the number: ('€', '') or ('', ' SEK')."""
    symbol = SYMBOLS.get(currency)
    return (symbol, "") if symbol else ("", f" {currency.upper()}")


def default_locale(currency: str) -> str:
    """The locale whose way of writing numbers a currency's customers usually share."""
    return DEFAULT_LOCALES.get(currency.lower(), FALLBACK_LOCALE)


@dataclass(frozen=True)
class Convention:
    """How a locale writes numbers: its decimal and group symbols and its group sizes."""

    decimal: str
    group: str
    grouping: tuple[int, int]  # (first group from the right, every further group): (3, 3), (3, 2)


@lru_cache(maxsize=64)
def convention(locale: str) -> Convention:
    """The locale's number symbols as Babel knows them (Latin digits)."""
    parsed = Locale.parse(locale)
    symbols = parsed.number_symbols["latn"]
    return Convention(symbols["decimal"], symbols["group"], parsed.decimal_formats[None].grouping)


def swapped_locale(locale: str) -> str:
    """A locale that writes numbers the other way round: '.' for ',' as the decimal symbol."""
    return "en_US" if convention(locale).decimal != "." else "de_DE"


def format_major(amount: int, currency: str, locale: str = DISPLAY_LOCALE) -> str:
    """The amount as a person types it in the locale, all decimals shown ('1.234,50', '1,500')."""
    places = exponent(currency)
    integer_pattern = Locale.parse(locale).decimal_formats[None].pattern.split(";")[0].split(".")[0]
    pattern = integer_pattern + ("." + "0" * places if places else "")
    return format_decimal(Decimal(amount).scaleb(-places), format=pattern, locale=locale)


def typing_rules(currency: str, locale: str) -> dict[str, str]:
    """What the payment page's script needs to read typed amounts exactly as parse_amount does."""
    own, alt = convention(locale), convention(swapped_locale(locale))
    places = exponent(currency)
    return {
        "decimals": str(places),
        "decimal-symbol": own.decimal,
        "group-symbol": own.group,
        "grouping": ",".join(map(str, own.grouping)),
        "alt-decimal-symbol": alt.decimal,
        "alt-group-symbol": alt.group,
        "alt-grouping": ",".join(map(str, alt.grouping)),
        "example": _example(currency, locale),
        "larger-example": format_major(123_450 * 10 ** max(0, places - 2), currency, locale),
    }


class AmountError(ValueError):
    """Typed text that is not an amount we can read for sure; str() is the message for the person."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # empty, too_long, sign, digits, not_a_number, decimals, zero, ambiguous


def parse_amount(text: str, currency: str, locale: str) -> int:
    """Read an amount a person typed, the way the locale's customers write it, into minor units.

    The locale's own way and the swapped one ('.' and ',' exchanged) are both tried; a text only one
    of them reads (with no more decimals than the currency has) is that amount, and a text both read
    as different amounts is refused unless it is exactly how this shop writes one of them. A text
    the locale reads as a decimal with too many decimals is refused, never re-read as grouping.
    """
    currency = currency.lower()
    if len(text) > MAX_TYPED:
        raise AmountError(
            "too_long",
            f"That is too long for an amount: use at most {MAX_TYPED} characters, "
            f"like {_example(currency, locale)}.",
        )
    typed = text.strip()
    if not typed:
        raise AmountError("empty", f"Enter an amount, like {_example(currency, locale)}.")
    displayed = _as_displayed(typed, currency)
    if displayed is not None:
        return displayed
    _refuse_odd_characters(typed, currency, locale)
    places = exponent(currency)
    readings: dict[str, Decimal] = {}
    too_precise = False
    for reading_locale in (locale, swapped_locale(locale)):
        value = _read(typed, reading_locale)
        if value is None:
            continue
        if _decimals(value) > places:
            if reading_locale == locale:
                # '7,505' in a decimal-comma shop is a slip of a finger, not 7,505 euros.
                raise AmountError("decimals", _decimals_message(currency, locale))
            too_precise = True
            continue
        readings.setdefault(reading_locale, value)
    values = list(dict.fromkeys(readings.values()))
    if not values:
        if too_precise:
            raise AmountError("decimals", _decimals_message(currency, locale))
        raise AmountError("not_a_number", _hint(currency, locale))
    if len(values) > 1:
        # Exactly what the page itself puts in the box is read the page's way.
        own = readings.get(locale)
        if own is None or format_major(_minor(own, places), currency, locale) != typed:
            raise AmountError("ambiguous", _ambiguity_message(typed, values, currency, locale))
        values = [own]
    if values[0] <= 0:
        raise AmountError(
            "zero", f"Enter an amount greater than zero, like {_example(currency, locale)}."
        )
    return _minor(values[0], places)


def _as_displayed(typed: str, currency: str) -> int | None:
    """The amount when the text is exactly how the page displays one ('€1,234.50', '1.000 KWD')."""
    prefix, suffix = display_marks(currency)
    if not (typed.startswith(prefix) and typed.endswith(suffix)):
        return None
    number = typed[len(prefix) : len(typed) - len(suffix)]
    if len(number) == 0 or any(ch not in "0123456789.," for ch in number):
        return None
    value = _read(number, DISPLAY_LOCALE)
    places = exponent(currency)
    if value is None or value <= 0 or _decimals(value) > places:
        return None
    minor = _minor(value, places)
    return minor if format_amount(minor, currency) == typed else None


def _refuse_odd_characters(typed: str, currency: str, locale: str) -> None:
    """Refuse signs, exponents, letters and non-Latin digits before any number is built."""
    allowed = "0123456789.," + SPACES + convention(locale).group
    for char in typed:
        if char in allowed:
            continue
        if char in SIGNS:
            raise AmountError(
                "sign",
                f"Enter the amount without a plus or minus sign, like {_example(currency, locale)}.",
            )
        if unicodedata.category(char) == "Nd":
            raise AmountError(
                "digits",
                f"Enter the amount with the digits 0 to 9, like {_example(currency, locale)}.",
            )
        raise AmountError("not_a_number", _hint(currency, locale))
    if not any(char in "0123456789" for char in typed):
        raise AmountError("not_a_number", _hint(currency, locale))


def _read(typed: str, locale: str) -> Decimal | None:
    """Babel's strict reading of the text in the locale, or None when the locale cannot read it."""
    group = convention(locale).group
    if group in SPACES:
        typed = "".join(group if char in SPACES else char for char in typed)
    try:
        value = parse_decimal(typed, locale, strict=True)
    except (NumberFormatError, InvalidOperation):
        return None
    return value if value.is_finite() else None


def _decimals(value: Decimal) -> int:
    exponent_ = value.as_tuple().exponent
    assert isinstance(exponent_, int)  # finite: checked by _read
    return max(0, -exponent_)


def _minor(value: Decimal, places: int) -> int:
    return int(value.scaleb(places))


def _example(currency: str, locale: str) -> str:
    places = exponent(currency)
    return format_major(750 * 10 ** max(0, places - 2), currency, locale)


def _hint(currency: str, locale: str) -> str:
    larger = typing_rules(currency, locale)["larger-example"]
    return f"Enter the amount in digits, like {_example(currency, locale)} or {larger}."


def _decimals_message(currency: str, locale: str) -> str:
    places = exponent(currency)
    if places == 0:
        return f"Enter a whole amount, without decimals, like {_example(currency, locale)}."
    return f"Enter the amount with at most {places} decimals, like {_example(currency, locale)}."


def _ambiguity_message(typed: str, values: list[Decimal], currency: str, locale: str) -> str:
    places = exponent(currency)
    written = [format_major(_minor(value, places), currency, locale) for value in values]
    code = currency.upper()
    return (
        f"“{typed}” could mean {written[0]} {code} or {written[1]} {code}; "
        f"write it as {written[0]} or {written[1]}."
    )
