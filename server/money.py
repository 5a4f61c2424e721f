"""Amounts in integer minor units: currency exponents, parsing what people type, and display."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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
    major = Decimal(amount).scaleb(-places)
    number = f"{major:,.{places}f}"
    symbol = SYMBOLS.get(currency)
    if symbol:
        return f"-{symbol}{number[1:]}" if amount < 0 else f"{symbol}{number}"
    return f"{number} {currency.upper()}"


def format_major(amount: int, currency: str) -> str:
    """The amount as a plain number in major units, as a person would type it ('15.00', '1500')."""
    places = exponent(currency)
    return f"{Decimal(amount).scaleb(-places):.{places}f}"


def parse_major(text: str, currency: str) -> int:
    """Turn '25', '25.5' or '1,250.00' into minor units; ValueError with a reason otherwise."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    for symbol in (*SYMBOLS.values(), currency.upper()):
        cleaned = cleaned.removeprefix(symbol.strip())
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter an amount as a number, like 25 or 25.50.") from None
    if not value.is_finite() or value <= 0:
        raise ValueError("Enter an amount greater than zero.")
    places = exponent(currency)
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        unit = "whole amount" if places == 0 else f"amount with at most {places} decimals"
        raise ValueError(f"Enter a {unit}.")
    return int(minor)
