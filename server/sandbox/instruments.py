"""Stripe's test cards, PaymentMethod tokens and SEPA test IBANs, and what each one does."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum


class Behaviour(Enum):
    SUCCEED = "succeed"
    DECLINE = "decline"
    AUTHENTICATE = "authenticate"  # 3-D Secure required, then succeeds
    DISPUTE = "dispute"  # succeeds, then the cardholder disputes it


class RefundLife(Enum):
    """How a refund of a payment made with this card or account goes, as in Stripe's test mode."""

    SUCCEEDS = "succeeds"  # succeeded at once
    PENDING = "pending"  # pending, then succeeded after refund_settle_delay
    FAILS = "fails"  # succeeded, then failed after refund_settle_delay: the money comes back


# Why a refund to a test card fails, as Stripe reports it in `failure_reason`.
REFUND_FAILURE_REASON = "expired_or_canceled_card"


@dataclass(frozen=True)
class Decline:
    """What the issuer answers: the API error's code and decline_code, and the charge's outcome."""

    code: str
    decline_code: str
    message: str
    seller_message: str
    param: str | None = None
    outcome_type: str = "issuer_declined"


GENERIC_DECLINE = Decline(
    "card_declined",
    "generic_decline",
    "Your card was declined.",
    "The bank did not return any further details with this decline.",
)
INSUFFICIENT_FUNDS = Decline(
    "card_declined",
    "insufficient_funds",
    "Your card has insufficient funds.",
    "The bank returned the decline code `insufficient_funds`.",
)
EXPIRED_CARD = Decline(
    "expired_card",
    "expired_card",
    "Your card has expired.",
    "The bank returned the decline code `expired_card`.",
    param="exp_month",
)
INCORRECT_CVC = Decline(
    "incorrect_cvc",
    "incorrect_cvc",
    "Your card's security code is incorrect.",
    "The bank returned the decline code `incorrect_cvc`.",
    param="cvc",
)
PROCESSING_ERROR = Decline(
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again in a little bit.",
    "The bank returned the decline code `processing_error`.",
)
# What Stripe answers in test mode for a real (non-test) card number.
LIVE_CARD_IN_TEST_MODE = Decline(
    "card_declined",
    "test_mode_live_card",
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
    "The bank did not return any further details with this decline.",
)


@dataclass(frozen=True)
class KnownCard:
    number: str
    brand: str
    behaviour: Behaviour
    description: str
    decline: Decline | None = None
    funding: str = "credit"
    country: str = "US"
    refund: RefundLife = RefundLife.SUCCEEDS

    @property
    def cvc_length(self) -> int:
        return 4 if self.brand == "amex" else 3


TEST_CARDS: dict[str, KnownCard] = {
    card.number: card
    for card in (
        KnownCard("4242424242424242", "visa", Behaviour.SUCCEED, "Visa: succeeds"),
        KnownCard("5555555555554444", "mastercard", Behaviour.SUCCEED, "Mastercard: succeeds"),
        KnownCard("378282246310005", "amex", Behaviour.SUCCEED, "American Express: succeeds"),
        KnownCard(
            "4000056655665556", "visa", Behaviour.SUCCEED, "Visa debit: succeeds", funding="debit"
        ),
        KnownCard(
            "4000000000000002", "visa", Behaviour.DECLINE, "Generic decline", GENERIC_DECLINE
        ),
        KnownCard(
            "4000000000009995", "visa", Behaviour.DECLINE, "Insufficient funds", INSUFFICIENT_FUNDS
        ),
        KnownCard("4000000000000069", "visa", Behaviour.DECLINE, "Expired card", EXPIRED_CARD),
        KnownCard("4000000000000127", "visa", Behaviour.DECLINE, "Incorrect CVC", INCORRECT_CVC),
        KnownCard(
            "4000000000000119", "visa", Behaviour.DECLINE, "Processing error", PROCESSING_ERROR
        ),
        KnownCard(
            "4000002500003155",
            "visa",
            Behaviour.AUTHENTICATE,
            "3-D Secure required: approve succeeds, fail leaves the payment open",
        ),
        KnownCard(
            "4000000000000259",
            "visa",
            Behaviour.DISPUTE,
            "Succeeds, then a fraudulent dispute is opened",
        ),
        KnownCard(
            "4000000000007726",
            "visa",
            Behaviour.SUCCEED,
            "Succeeds; a refund of it is pending, then succeeds",
            refund=RefundLife.PENDING,
        ),
        KnownCard(
            "4000000000005126",
            "visa",
            Behaviour.SUCCEED,
            "Succeeds; a refund of it succeeds, then fails",
            refund=RefundLife.FAILS,
        ),
    )
}

# Stripe's PaymentMethod tokens for server-side tests (`payment_method=pm_card_visa`).
PAYMENT_METHOD_TOKENS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_pendingRefund": "4000000000007726",
    "pm_card_refundFail": "4000000000005126",
}


def luhn_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if "51" <= number[:2] <= "55" or "2221" <= number[:4] <= "2720":
        return "mastercard"
    return "unknown"


def fingerprint(secret_number: str) -> str:
    """A stable stand-in for Stripe's fingerprint: equal numbers, equal fingerprints."""
    return hashlib.sha256(secret_number.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class KnownBankAccount:
    iban: str
    succeeds: bool
    description: str


# Stripe's documented SEPA Direct Debit test IBANs.
TEST_IBANS: dict[str, KnownBankAccount] = {
    account.iban: account
    for account in (
        KnownBankAccount("DE89370400440532013000", True, "SEPA Debit: processing, then succeeds"),
        KnownBankAccount("DE62370400440532013001", False, "SEPA Debit: processing, then fails"),
    )
}

# How a failed SEPA debit is reported on the charge and the PaymentIntent.
BANK_DEBIT_FAILURE = (
    "insufficient_funds",
    "The customer's account has insufficient funds to cover this payment.",
)


def iban_valid(iban: str) -> bool:
    """ISO 13616: country, check digits, then mod-97 of the rearranged number equals 1."""
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    if not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    return int(digits) % 97 == 1
