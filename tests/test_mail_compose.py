"""Rendering mail: who gets what, subjects, headers, both parts, branding, and what customers typed."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from server.catalog import Catalog, load_catalog, parse_catalog
from server.config import EXAMPLE_CATALOG, Config
from server.lifecycle import Dispute, Facts, PaymentMethod, Refund
from server.mail.compose import CannotCompose, Composer
from server.mail.messages import Links, awaits_payment_method
from server.mail.outbox import OutboxRow, Rendered
from server.payments import Payment

CATALOG = load_catalog(EXAMPLE_CATALOG)
LIVE_KEY = "sk_live_" + "x" * 24
CONFIG = Config(  # a live shop: real money, so no test-mode marks
    mail_from="Harbour Yoga <pay@harbour-yoga.example>",
    admin_emails=("owner@harbour-yoga.example", "desk@harbour-yoga.example"),
    stripe_secret_key=LIVE_KEY,
)
TEST_MODE = dataclasses.replace(CONFIG, stripe_secret_key="sk_test_" + "x" * 24)
PAYMENT_ID = "pay_Q7x2Lm9KpR4tWv8Zs1NbYc3D"
REF = "pay_Q7x2Lm9K"  # what the customer is shown: the id's first 12 characters
LINKS = Links(
    status=lambda pid: f"https://pay.example/payments/{pid}",
    console=lambda pid: f"https://pay.example/admin/payments/{pid}",
    shop="https://pay.example/",
    my_payments="https://pay.example/my-payments",
)
DUE_BY = 1_732_795_199  # 28 Nov 2024, 11:59:59 UTC
FACTS = Facts(
    paid=True,
    refunds={"re_part": Refund(1000, "succeeded"), "re_rest": Refund(2000, "pending")},
    disputes={
        "dp_1": Dispute("needs_response", "fraudulent", 3000, DUE_BY, 1, "evt_1"),
        "dp_won": Dispute("won", "fraudulent", 3000, None, 2, "evt_2"),
    },
)
CUSTOMER = ("ada@example.com",)
OPERATORS = CONFIG.admin_emails


def make_payment(**changes: object) -> Payment:
    payment = Payment(
        id=PAYMENT_ID, request_key="k", product_id="drop-in-class",
        product_name="Drop-in class", quantity=2, unit_amount=1500, amount=3000, currency="eur",
        customer_name="Ada Lovelace", customer_email="ada@example.com", status="succeeded",
        status_reason=None, checkout_attempts=0, checkout_session_id="cs_1", checkout_url=None,
        payment_intent_id="pi_compose", expires_at=None, created_at=1_732_700_000_000,
        updated_at=1_732_700_000_000, version=3, facts=FACTS.to_json(),
    )  # fmt: skip
    return dataclasses.replace(payment, **changes)  # type: ignore[arg-type]


def render(
    key: str,
    payment: Payment | None = None,
    *,
    catalog: Catalog = CATALOG,
    config: Config = CONFIG,
) -> tuple[Rendered, EmailMessage]:
    kind = key.partition(":")[0]
    row = OutboxRow(
        id=1, payment_id=PAYMENT_ID, kind=kind, dedupe_key=key, urgent=False,
        status="pending", attempts=0, next_attempt_at=0, last_error=None, created_at=0,
        sent_at=None, last_attempt_at=None, rendered=None,
    )  # fmt: skip
    rendered = Composer(config, catalog, LINKS).compose(row, payment or make_payment())
    message = email.message_from_string(rendered.message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return rendered, message


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


@pytest.mark.parametrize(
    ("key", "to", "subject"),
    [
        ("receipt", CUSTOMER, f"Your receipt from Harbour Yoga Studio — €30.00 (ref. {REF})"),
        ("operator_new_payment", OPERATORS, "New payment: €30.00 from Ada Lovelace — Drop-in class"),
        ("processing_notice", CUSTOMER, f"Your bank payment of €30.00 to Harbour Yoga Studio is processing (ref. {REF})"),
        ("async_failed_customer", CUSTOMER, f"Your bank payment of €30.00 to Harbour Yoga Studio did not go through (ref. {REF})"),
        ("async_failed_operator", OPERATORS, "Bank payment failed: €30.00 from Ada Lovelace — Drop-in class"),
        ("refund_confirmation:re_part", CUSTOMER, f"Refund of €10.00 from Harbour Yoga Studio (ref. {REF})"),
        ("dispute_alert:dp_1", OPERATORS, "URGENT: dispute opened on payment of €30.00 from Ada Lovelace — respond by 28 Nov"),
        ("dispute_closed:dp_won", OPERATORS, "Dispute won: €30.00 from Ada Lovelace — Drop-in class"),
    ],
)  # fmt: skip
def test_each_message_says_what_happened_to_the_right_people(
    key: str, to: tuple[str, ...], subject: str
) -> None:
    rendered, message = render(key)
    assert message["Subject"] == subject == rendered.subject
    assert rendered.recipients == to
    assert tuple(a.addr_spec for a in message["To"].addresses) == to
    assert message["From"] == CONFIG.mail_from
    assert message["Reply-To"] == "hello@harbour-yoga.example"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Message-ID"] == rendered.message_id
    assert rendered.message_id.startswith("<") and rendered.message_id.endswith(
        "@harbour-yoga.example>"
    )
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert "Harbour Yoga Studio" in text and "Harbour Yoga Studio" in html
    assert html.lstrip().startswith("<!doctype html>")
    urgent = key.startswith("dispute_alert")
    assert (message["X-Priority"], message["Importance"]) == (
        ("1", "high") if urgent else (None, None)
    )


def test_the_message_is_seven_bit_with_crlf_line_ends() -> None:
    rendered, _ = render("receipt", make_payment(customer_name="Zoë Åberg"))
    assert rendered.message.isascii()
    assert "\r\n" in rendered.message and "\n" not in rendered.message.replace("\r\n", "")


def test_customer_names_are_escaped_in_html_and_kept_in_text() -> None:
    name = '<script>alert("hi")</script> & Sons'
    for key in ("receipt", "operator_new_payment"):
        _, message = render(key, make_payment(customer_name=name))
        text, html = parts(message)
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt; &amp; Sons" in html
        assert name in text


def test_a_customer_name_cannot_add_headers() -> None:
    payment = make_payment(customer_name="Eve\r\nBcc: victim@example.com\r\n\r\nbody")
    for key in ("receipt", "operator_new_payment", "dispute_alert:dp_1"):
        rendered, message = render(key, payment)
        assert message["Bcc"] is None
        assert not any(line.lower().startswith("bcc:") for line in rendered.message.split("\r\n"))
        assert "\r" not in message["Subject"] and "\n" not in message["Subject"]
    _, receipt = render("receipt", payment)
    [address] = receipt["To"].addresses
    assert address.addr_spec == "ada@example.com"
    assert address.display_name == "Eve Bcc: victim@example.com body"


def test_the_receipt_has_what_was_bought_and_where_to_go_next() -> None:
    _, message = render("receipt")
    text, html = parts(message)
    for body in (text, html):
        assert "Drop-in class" in body and "€15.00" in body and "€30.00" in body
        assert f"https://pay.example/payments/{PAYMENT_ID}" in body
        assert "https://harbour-yoga.example/schedule" in body and "Book your class" in body
        assert "hello@harbour-yoga.example" in body
        assert "27 Nov 2024" in body


def test_the_operator_notice_links_the_console() -> None:
    _, message = render("operator_new_payment")
    text, html = parts(message)
    for body in (text, html):
        assert f"https://pay.example/admin/payments/{PAYMENT_ID}" in body
        assert "ada@example.com" in body and "pi_compose" in body


def test_operator_mail_goes_to_the_shop_contact_without_admin_email() -> None:
    rendered, _ = render(
        "operator_new_payment", config=Config(mail_from="pay@harbour-yoga.example")
    )
    assert rendered.recipients == ("hello@harbour-yoga.example",)


def test_a_refund_confirmation_has_the_refund_and_what_remains() -> None:
    _, message = render("refund_confirmation:re_part")
    text, _ = parts(message)
    assert "Refunded now:         €10.00" in text
    assert "Refunded in total:    €30.00" in text  # both refunds count, one still pending
    assert "refunded in full" in text
    only_part = Facts(paid=True, refunds={"re_part": Refund(1000, "succeeded")})
    _, message = render("refund_confirmation:re_part", make_payment(facts=only_part.to_json()))
    text, html = parts(message)
    assert "Still paid:           €20.00" in text and "€20.00" in html


def test_a_dispute_alert_says_how_long_there_is_to_respond() -> None:
    _, message = render("dispute_alert:dp_1")
    text, html = parts(message)
    for body in (text, html):
        assert "28 Nov 2024, 11:59 UTC" in body and "fraudulent" in body and "dp_1" in body
    no_deadline = Facts(
        paid=True, disputes={"dp_1": Dispute("warning_needs_response", None, 3000, None, 1, "e")}
    )
    rendered, _ = render("dispute_alert:dp_1", make_payment(facts=no_deadline.to_json()))
    assert (
        rendered.subject == "URGENT: payment inquiry opened on payment of €30.00 from Ada Lovelace"
    )


def test_branding_comes_from_the_catalog() -> None:
    catalog = parse_catalog(
        {
            "shop": {
                "name": "Tide & Co",
                "contact_email": "hi@tide.example",
                "accent_color": "#aa3366",
                "logo_url": "/static/logo.svg",
            },
            "products": [
                {"id": "drop-in-class", "name": "Class", "currency": "eur", "unit_amount": 1500}
            ],
        }
    )
    rendered, message = render("receipt", catalog=catalog)
    _, html = parts(message)
    assert "#aa3366" in html
    assert 'src="https://pay.example/static/logo.svg"' in html and 'alt="Tide &amp; Co"' in html
    assert message["Reply-To"] == "hi@tide.example"
    assert rendered.subject == f"Your receipt from Tide & Co — €30.00 (ref. {REF})"


@pytest.mark.parametrize(
    ("key", "payment"),
    [
        ("refund_confirmation:re_unknown", make_payment()),
        ("dispute_alert:dp_unknown", make_payment()),
        ("dispute_closed:dp_1", make_payment()),  # still open: nothing to report yet
        ("no_such_kind", make_payment()),
        ("receipt", make_payment(customer_email="not an address")),
    ],
)
def test_a_row_that_cannot_become_a_message_is_refused(key: str, payment: Payment) -> None:
    with pytest.raises(CannotCompose):
        render(key, payment)


KINDS = [
    "receipt",
    "operator_new_payment",
    "processing_notice",
    "async_failed_customer",
    "async_failed_operator",
    "refund_confirmation:re_part",
    "dispute_alert:dp_1",
    "dispute_closed:dp_won",
]


@pytest.mark.parametrize("key", KINDS)
def test_mail_about_a_test_payment_says_so_in_the_subject_and_both_parts(key: str) -> None:
    live, _ = render(key)
    rendered, message = render(key, config=TEST_MODE)
    assert rendered.subject == message["Subject"] == "[TEST] " + live.subject
    text, html = parts(message)
    for body in (text, html):
        assert "TEST MODE" in body and "No real money moved." in body
    live_text, live_html = parts(render(key)[1])
    assert "TEST MODE" not in live_text and "TEST MODE" not in live_html


def test_without_mail_from_mail_comes_from_the_shop() -> None:
    rendered, message = render("receipt", config=dataclasses.replace(CONFIG, mail_from=""))
    assert message["From"] == "Harbour Yoga Studio <hello@harbour-yoga.example>"
    assert rendered.message_id.endswith("@harbour-yoga.example>")
    catalog = parse_catalog(
        {
            "shop": {"name": "Tide & Co", "contact_email": "hi@tide.example"},
            "products": [
                {"id": "drop-in-class", "name": "Class", "currency": "eur", "unit_amount": 1500}
            ],
        }
    )
    _, message = render(
        "receipt", catalog=catalog, config=dataclasses.replace(CONFIG, mail_from="")
    )
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Tide & Co", "hi@tide.example")


@pytest.mark.parametrize(
    ("method", "shown"),
    [
        (PaymentMethod("card", "visa", "4242", 1, "evt_1"), "Visa ending in 4242"),
        (PaymentMethod("card", "amex", "0005", 1, "evt_1"), "American Express ending in 0005"),
        (PaymentMethod("card", "unknown", "1111", 1, "evt_1"), "Card ending in 1111"),
        (
            PaymentMethod("sepa_debit", None, "3000", 1, "evt_1"),
            "SEPA Direct Debit, account ending in 3000",
        ),
    ],
)
def test_the_receipt_says_how_it_was_paid(method: PaymentMethod, shown: str) -> None:
    facts = dataclasses.replace(FACTS, method=method)
    _, message = render("receipt", make_payment(facts=facts.to_json()))
    text, html = parts(message)
    assert f"Paid with:            {shown}" in text.splitlines()
    assert f">{shown}</td>" in html


def test_a_receipt_without_a_known_payment_method_leaves_the_line_out() -> None:
    _, message = render("receipt")
    text, html = parts(message)
    assert "Paid with" not in text and "Paid with" not in html


def test_the_receipt_shows_the_short_reference_not_the_full_id() -> None:
    _, message = render("receipt")
    text, html = parts(message)
    assert f"Payment reference:    {REF}" in text.splitlines()
    assert f">{REF}</td>" in html
    for body in (text, html):
        # The full id opens the status page: it is only in the status link.
        assert body.count(PAYMENT_ID) == 1


@pytest.mark.parametrize(
    ("status", "subject", "says"),
    [
        ("won", "Dispute won: €20.00", "the disputed €20.00 is returned to your Stripe balance"),
        ("lost", "Dispute lost: €20.00", "the disputed €20.00 stays withdrawn from your Stripe balance"),
        ("warning_closed", "Payment inquiry closed: €20.00", "no money was withdrawn"),
    ],
)  # fmt: skip
def test_the_operator_hears_how_a_dispute_ended_and_for_how_much(
    status: str, subject: str, says: str
) -> None:
    facts = Facts(paid=True, disputes={"dp_9": Dispute(status, "fraudulent", 2000, None, 5, "e")})
    rendered, message = render("dispute_closed:dp_9", make_payment(facts=facts.to_json()))
    assert rendered.subject == f"{subject} from Ada Lovelace — Drop-in class"
    assert rendered.recipients == OPERATORS
    text, html = parts(message)
    assert says in text and "dp_9" in text and "fraudulent" in text
    assert says in re.sub(r"<[^>]+>", "", html)
    assert f"https://pay.example/admin/payments/{PAYMENT_ID}" in text


CARD = PaymentMethod("card", "visa", "4242", 1, "evt_charge")


@pytest.mark.parametrize(
    ("kind", "facts", "amount", "waits"),
    [
        ("receipt", Facts(paid=True), 3000, True),
        ("operator_new_payment", Facts(paid=True), 3000, True),
        ("receipt", Facts(paid=True, method=CARD), 3000, False),
        # The charge came but named no method: there is nothing more to wait for.
        ("receipt", Facts(seen=frozenset({"charge.succeeded"}), paid=True), 3000, False),
        ("receipt", Facts(paid=True), 0, False),  # nothing was charged
        ("processing_notice", Facts(processing=True), 3000, False),
        ("refund_confirmation", FACTS, 3000, False),
    ],
)
def test_mail_that_says_how_it_was_paid_awaits_the_charge(
    kind: str, facts: Facts, amount: int, waits: bool
) -> None:
    payment = make_payment(facts=facts.to_json(), amount=amount)
    assert awaits_payment_method(kind, payment) is waits
