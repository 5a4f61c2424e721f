"""Check what the customer typed on the hosted page, with the messages Stripe's own form shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .instruments import card_brand, iban_valid, luhn_valid

_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


@dataclass(frozen=True)
class CardInput:
    number: str
    exp_month: int
    exp_year: int
    cvc: str


@dataclass(frozen=True)
class BankDebitInput:
    iban: str
    account_holder: str


class FormErrors(ValueError):
    """Field name -> message, shown next to each field; nothing was charged."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def parse_card(number: str, expiry: str, cvc: str, today: date) -> CardInput:
    errors: dict[str, str] = {}
    digits = re.sub(r"[\s-]", "", number)
    if not digits:
        errors["card_number"] = "Your card number is incomplete."
    elif not digits.isdigit() or not luhn_valid(digits) or not 12 <= len(digits) <= 19:
        errors["card_number"] = "Your card number is invalid."

    exp_month = exp_year = 0
    match = _EXPIRY.match(expiry)
    if not expiry.strip():
        errors["exp"] = "Your card's expiration date is incomplete."
    elif match is None:
        errors["exp"] = "Your card's expiration date is invalid. Use MM/YY."
    else:
        exp_month, exp_year = int(match.group(1)), int(match.group(2))
        if exp_year < 100:
            exp_year += 2000
        if not 1 <= exp_month <= 12:
            errors["exp"] = "Your card's expiration date is invalid. Use MM/YY."
        elif exp_year < today.year:
            errors["exp"] = "Your card's expiration year is in the past."
        elif (exp_year, exp_month) < (today.year, today.month):
            errors["exp"] = "Your card's expiration date is in the past."
        elif exp_year > today.year + 50:
            errors["exp"] = "Your card's expiration year is invalid."

    cvc = cvc.strip()
    cvc_length = 4 if card_brand(digits) == "amex" else 3
    if not cvc.isdigit() or len(cvc) < cvc_length:
        errors["cvc"] = "Your card's security code is incomplete."
    elif len(cvc) > cvc_length:
        errors["cvc"] = "Your card's security code is invalid."

    if errors:
        raise FormErrors(errors)
    return CardInput(digits, exp_month, exp_year, cvc)


def parse_bank_debit(iban: str, account_holder: str) -> BankDebitInput:
    errors: dict[str, str] = {}
    compact = re.sub(r"\s", "", iban).upper()
    if not compact:
        errors["iban"] = "Your IBAN is incomplete."
    elif not iban_valid(compact):
        errors["iban"] = "Your IBAN is invalid."
    name = account_holder.strip()
    if not name:
        errors["account_holder"] = "Enter the account holder's full name."
    if errors:
        raise FormErrors(errors)
    return BankDebitInput(compact, name)
