"""Rendering an outbox row into a complete RFC 5322 message: templates, branding and headers."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import jinja2

from ..catalog import Catalog, Shop
from ..config import Config
from ..money import format_amount
from ..package_data import templates_folder
from ..payments import Payment
from .messages import Audience, Draft, Links, draft, one_line
from .outbox import OutboxRow, Rendered

TEMPLATES_FOLDER = templates_folder() / "mail"
DEFAULT_ACCENT = "#1f5f8b"  # the payment page's own default (static/style.css)
TEST_SUBJECT_PREFIX = "[TEST] "  # no real money moved: nobody should act on it as if it had


class CannotCompose(ValueError):
    """The row cannot become a message; retrying will not change that."""


def create_mail_environment(folder: Path = TEMPLATES_FOLDER) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        # HTML parts are escaped, plain-text parts are not: a name like "A & B" stays readable.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["money"] = format_amount
    return env


def from_address(config: Config, shop: Shop) -> Address:
    """Who mail comes from: MAIL_FROM, else the shop's name at its contact address. Its address
    is also the SMTP envelope sender, where bounces go."""
    if config.mail_from:
        name, address = parseaddr(config.mail_from)
        return Address(display_name=name, addr_spec=address)
    return Address(display_name=one_line(shop.name), addr_spec=shop.contact_email)


def mail_domain(address: Address) -> str:
    """Message-IDs are minted under the sender's domain, which is ours to make unique ids in."""
    return address.domain or "localhost"


class Composer:
    """Turns an outbox row and its payment, as they are now, into the message to send."""

    def __init__(
        self,
        config: Config,
        catalog: Catalog,
        links: Links,
        env: jinja2.Environment | None = None,
    ) -> None:
        self._config = config
        self._catalog = catalog
        self._links = links
        self._env = env or create_mail_environment()
        self._from = from_address(config, catalog.shop)

    def compose(self, row: OutboxRow, payment: Payment) -> Rendered:
        """The rendered message; CannotCompose when the row or its payment cannot make one."""
        try:
            message_draft = draft(row.kind, row.dedupe_key, payment, self._catalog, self._links)
            recipients = self._recipients(message_draft.audience, payment)
            message = self._message(message_draft, recipients)
            text = message.as_string(policy=email.policy.SMTP)
        except (ValueError, jinja2.TemplateError) as exc:
            # ValueError covers a bad address or header (the email package refuses CR/LF), and
            # facts that cannot be read; a template error is a bug a retry will not fix.
            raise CannotCompose(f"cannot build the {row.kind} message: {exc}") from exc
        return Rendered(
            message_id=str(message["Message-ID"]),
            subject=str(message["Subject"]),
            recipients=tuple(a.addr_spec for a in recipients),
            message=text,
        )

    def _recipients(self, audience: Audience, payment: Payment) -> tuple[Address, ...]:
        if audience is Audience.CUSTOMER:
            # Address quotes the display name; one_line takes out anything that could end a header.
            name = one_line(payment.customer_name)
            return (Address(display_name=name, addr_spec=payment.customer_email),)
        admins = self._config.admin_emails or (self._catalog.shop.contact_email,)
        return tuple(Address(addr_spec=address) for address in admins)

    def _subject(self, message_draft: Draft) -> str:
        subject = one_line(message_draft.subject)
        return TEST_SUBJECT_PREFIX + subject if self._config.is_test_mode else subject

    def _message(self, message_draft: Draft, recipients: tuple[Address, ...]) -> EmailMessage:
        subject = self._subject(message_draft)
        context = {
            **message_draft.context,
            **self._brand(),
            "subject": subject,
            "test_mode": self._config.is_test_mode,
        }
        text = self._env.get_template(f"{message_draft.template}.txt").render(context)
        html = self._env.get_template(f"{message_draft.template}.html").render(context)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self._from
        message["To"] = recipients
        message["Reply-To"] = self._catalog.shop.contact_email
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=mail_domain(self._from))
        # Tells vacation responders and ticket systems not to answer a machine (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
        if message_draft.urgent:
            message["X-Priority"] = "1"
            message["Importance"] = "high"
        # quoted-printable keeps the message 7-bit, so no server needs 8BITMIME to take it.
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
        return message

    def _brand(self) -> dict[str, object]:
        shop = self._catalog.shop
        logo = shop.logo_url
        if logo and logo.startswith("/"):
            logo = self._links.shop.rstrip("/") + logo  # a mail client needs an absolute URL
        return {
            "shop": shop,
            "accent": shop.accent_color or DEFAULT_ACCENT,
            "logo_url": logo,
        }
