"""Plain-function rules: parameter schemas, money, card and IBAN checks, settings, signing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import stripe

from server.sandbox import SandboxSettings
from server.sandbox.card_form import FormErrors, parse_bank_debit, parse_card
from server.sandbox.errors import StripeError
from server.sandbox.instruments import TEST_CARDS, card_brand, iban_valid, luhn_valid
from server.sandbox.money import format_amount, minimum_charge, stripe_amount
from server.sandbox.params import Arr, Bool, Currency, Enum, Int, Metadata, Obj, Str, validate
from server.sandbox.signing import signature_header

SPEC = Obj(
    {
        "name": Str(max_length=5),
        "count": Int(minimum=1),
        "flag": Bool(),
        "kind": Enum(("a", "b", "c")),
        "tags": Arr(Str()),
        "metadata": Metadata(),
        "currency": Currency(),
        "inner": Obj({"x": Int()}, required=frozenset({"x"})),
    },
    required=frozenset({"name"}),
)


def test_valid_params_come_back_typed() -> None:
    params = validate(
        SPEC,
        {
            "name": "ab",
            "count": "3",
            "flag": "true",
            "kind": "b",
            "tags": {"0": "x", "1": "y"},
            "metadata": {"k": "v"},
            "currency": "eur",
            "inner": {"x": "-4"},
        },
    )
    assert params == {
        "name": "ab",
        "count": 3,
        "flag": True,
        "kind": "b",
        "tags": ["x", "y"],
        "metadata": {"k": "v"},
        "currency": "eur",
        "inner": {"x": -4},
    }


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"name": "a", "colour": "red"}, "colour", "Received unknown parameter: colour"),
        (
            {"name": "a", "inner": {"x": "1", "y": "2"}},
            "inner[y]",
            "Received unknown parameter: inner[y]",
        ),
        ({}, "name", "Missing required param: name."),
        ({"name": "a", "inner": {}}, "inner[x]", "Missing required param: inner[x]."),
        ({"name": "a", "count": "two"}, "count", "Invalid integer: two"),
        ({"name": "a", "count": "1.5"}, "count", "Invalid integer: 1.5"),
        ({"name": "a", "count": "0"}, "count", "This value must be greater than or equal to 1."),
        ({"name": "a", "flag": "yes"}, "flag", "Invalid boolean: yes"),
        ({"name": "a", "kind": "d"}, "kind", "Invalid kind: must be one of a, b, or c"),
        ({"name": "a", "tags": "x"}, "tags", "Invalid array"),
        ({"name": "a", "inner": "x"}, "inner", "Invalid hash"),
        ({"name": "a", "currency": "EUR"}, "currency", "Invalid currency: EUR."),
        ({"name": "a", "currency": "xyz"}, "currency", "Invalid currency: xyz."),
        ({"name": "toolong"}, "name", "must be at most 5 characters"),
        ({"name": ""}, "name", "You passed an empty string for 'name'."),
    ],
)
def test_invalid_params_are_refused_like_stripe(
    params: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(StripeError) as refused:
        validate(SPEC, params)
    assert refused.value.status == 400
    assert refused.value.type == "invalid_request_error"
    assert refused.value.param == param
    assert message in refused.value.message


def test_several_unknown_parameters_are_named_together() -> None:
    with pytest.raises(StripeError) as refused:
        validate(SPEC, {"name": "a", "x": "1", "y": "2"})
    assert refused.value.message == "Received unknown parameters: x, y"
    assert refused.value.code == "parameter_unknown"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({str(i): "v" for i in range(51)}, "maximum of 50 keys"),
        ({"k" * 41: "v"}, "maximum length of 40 characters"),
        ({"k": "v" * 501}, "maximum length of 500 characters"),
    ],
)
def test_metadata_limits(metadata: dict[str, str], message: str) -> None:
    with pytest.raises(StripeError) as refused:
        validate(SPEC, {"name": "a", "metadata": metadata})
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1050, "eur", "€10.50"),
        (50, "usd", "$0.50"),
        (123456, "gbp", "£1,234.56"),
        (1050, "jpy", "¥1,050"),
        (1050, "krw", "1,050 KRW"),
        (1200, "chf", "12.00 CHF"),
        (17500, "huf", "175.00 Ft"),
        (1234, "kwd", "1.234 KWD"),
    ],
)
def test_amounts_are_shown_in_the_currencys_units(amount: int, currency: str, shown: str) -> None:
    assert format_amount(amount, currency) == shown


@pytest.mark.parametrize(
    ("currency", "minimum", "in_message"),
    [
        ("usd", 50, "$0.50 usd"),
        ("eur", 50, "€0.50 eur"),
        ("gbp", 30, "£0.30 gbp"),
        ("jpy", 50, "¥50 jpy"),
        ("hkd", 400, "$4.00 hkd"),
        ("huf", 17500, "175.00 Ft huf"),
    ],
)
def test_minimum_charges_match_stripes_table(currency: str, minimum: int, in_message: str) -> None:
    assert minimum_charge(currency) == minimum
    assert stripe_amount(minimum, currency) == in_message


TODAY = date(2026, 5, 15)


@pytest.mark.parametrize(
    ("number", "expiry", "cvc", "errors"),
    [
        ("4242 4242 4242 4241", "12/30", "123", {"card_number": "Your card number is invalid."}),
        ("", "12/30", "123", {"card_number": "Your card number is incomplete."}),
        ("4242 abcd", "12/30", "123", {"card_number": "Your card number is invalid."}),
        (
            "4242424242424242",
            "04/26",
            "123",
            {"exp": "Your card's expiration date is in the past."},
        ),
        (
            "4242424242424242",
            "12/25",
            "123",
            {"exp": "Your card's expiration year is in the past."},
        ),
        (
            "4242424242424242",
            "13/30",
            "123",
            {"exp": "Your card's expiration date is invalid. Use MM/YY."},
        ),
        ("4242424242424242", "", "123", {"exp": "Your card's expiration date is incomplete."}),
        ("4242424242424242", "12/30", "12", {"cvc": "Your card's security code is incomplete."}),
        ("378282246310005", "12/30", "123", {"cvc": "Your card's security code is incomplete."}),
    ],
)
def test_card_form_messages(number: str, expiry: str, cvc: str, errors: dict[str, str]) -> None:
    with pytest.raises(FormErrors) as refused:
        parse_card(number, expiry, cvc, TODAY)
    assert refused.value.errors == errors


def test_a_card_this_month_and_spaces_in_the_number_are_fine() -> None:
    card = parse_card(" 4242 4242-4242 4242 ", "5 / 26", "123", TODAY)
    assert (card.number, card.exp_month, card.exp_year) == ("4242424242424242", 5, 2026)
    assert parse_card("378282246310005", "01/2031", "1234", TODAY).cvc == "1234"


def test_every_documented_test_card_passes_luhn_and_has_its_brand() -> None:
    for number, card in TEST_CARDS.items():
        assert luhn_valid(number), number
        assert card_brand(number) == card.brand, number


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89370400440532013000", True),
        ("DE62370400440532013001", True),
        ("DE89370400440532013001", False),
        ("DE8937040044", False),
        ("GB82WEST12345698765432", True),
    ],
)
def test_iban_checksums(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


def test_bank_debit_form_needs_a_valid_iban_and_a_name() -> None:
    assert parse_bank_debit("de89 3704 0044 0532 0130 00", "Jenny").iban == "DE89370400440532013000"
    with pytest.raises(FormErrors) as refused:
        parse_bank_debit("DE00 1234", " ")
    assert set(refused.value.errors) == {"iban", "account_holder"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"public_url": "http://x/"}, "public_url"),
        ({"public_url": "ftp://x"}, "public_url"),
        ({"webhook_url": "http://x/h"}, "webhook_secrets"),
        ({"webhook_url": "http://x/h", "webhook_secrets": ("secret",)}, "webhook_secrets"),
        ({"duplicate_rate": 1.5}, "duplicate_rate"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"retry_factor": 0.5}, "retry_factor"),
        ({"latency": -1}, "latency"),
        ({"min_session_lifetime": 10, "max_session_lifetime": 5}, "max_session_lifetime"),
    ],
)
def test_settings_say_which_field_is_wrong(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        SandboxSettings(**overrides)


def test_the_retry_schedule_grows_and_is_capped() -> None:
    settings = SandboxSettings(retry_base_delay=1, retry_factor=2, retry_max_delay=5)
    assert [settings.retry_delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_signatures_verify_with_the_sdk_for_each_secret() -> None:
    payload = b'{"id": "evt_1", "object": "event", "type": "x", "data": {"object": {}}}'
    header = signature_header(payload, ["whsec_one_123456", "whsec_two_123456"], 1_700_000_000)
    assert header.count("v1=") == 2
    for secret in ("whsec_one_123456", "whsec_two_123456"):
        stripe.WebhookSignature.verify_header(payload.decode(), header, secret, tolerance=None)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_three_12345")
