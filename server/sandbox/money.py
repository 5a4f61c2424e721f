"""Currencies as Stripe treats them: which exist, their decimals, minimum charges and display."""

from __future__ import annotations

# Stripe's presentment currencies (https://docs.stripe.com/currencies), lowercase like the API.
# fmt: off
SUPPORTED_CURRENCIES = frozenset((
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd",
    "bdt", "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad",
    "cdf", "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp",
    "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl",
    "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr", "kmf",
    "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd",
    "mmk", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok",
    "npr", "nzd", "omr", "pab", "pen", "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd",
    "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl",
    "thb", "tjs", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "uyu", "uzs", "vnd", "vuv",
    "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
))
# fmt: on

# Amounts in these currencies are whole units: 500 JPY is ¥500, not ¥5.00.
# fmt: off
ZERO_DECIMAL = frozenset((
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
))
# fmt: on
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

# Stripe's minimum charge per currency, in the currency's smallest unit
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500,
    "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000,
    "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip

# Currencies written with a symbol before the amount; others show their code after it.
_PREFIX_SYMBOLS = {
    "usd": "$", "aud": "$", "cad": "$", "hkd": "$", "mxn": "$", "nzd": "$", "sgd": "$",
    "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "brl": "R$",
}  # fmt: skip
_SUFFIX_SYMBOLS = {"huf": "Ft", "czk": "Kč", "dkk": "kr.", "nok": "kr", "sek": "kr", "pln": "zł"}


def decimals(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def major_units(amount: int, currency: str) -> str:
    """1050 eur -> "10.50"; 1050 jpy -> "1,050"."""
    places = decimals(currency)
    if places == 0:
        return f"{amount:,}"
    whole, fraction = divmod(abs(amount), 10**places)
    sign = "-" if amount < 0 else ""
    return f"{sign}{whole:,}.{fraction:0{places}d}"


def format_amount(amount: int, currency: str) -> str:
    """How a customer reads an amount: "€10.50", "¥1,050", "175.00 Ft", "12.00 CHF"."""
    number = major_units(amount, currency)
    if currency in _PREFIX_SYMBOLS:
        return f"{_PREFIX_SYMBOLS[currency]}{number}"
    return f"{number} {_SUFFIX_SYMBOLS.get(currency, currency.upper())}"


def minimum_charge(currency: str) -> int:
    """Stripe's minimum for `currency`; Stripe converts other currencies to 0.50 USD, which the
    sandbox cannot, so it enforces no minimum for them beyond one smallest unit."""
    return MINIMUM_CHARGE.get(currency, 1)


def stripe_amount(amount: int, currency: str) -> str:
    """An amount as Stripe's error messages write it: "$0.50 usd", "€0.50 eur", "175.00 Ft huf"."""
    if currency in _PREFIX_SYMBOLS:
        return f"{_PREFIX_SYMBOLS[currency]}{major_units(amount, currency).replace(',', '')} {currency}"
    number = major_units(amount, currency).replace(",", "")
    return f"{number} {_SUFFIX_SYMBOLS.get(currency, currency.upper())} {currency}"
