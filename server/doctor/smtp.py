"""The mail check: SMTP connects, upgrades and authenticates; a test message only when asked."""

from __future__ import annotations

import email.policy
import email.utils
from email.headerregistry import Address
from email.message import EmailMessage

from ..config import Config, SmtpSecurity
from ..mail.compose import mail_domain
from ..mail.outbox import Rendered
from ..mail.transport import DeliveryError, SmtpTransport
from .report import Finding, fail, ok, warn

_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_SETTINGS = "SMTP_HOST, SMTP_PORT, SMTP_SECURITY, SMTP_USERNAME and SMTP_PASSWORD"


async def check_smtp(config: Config, sender: Address, test_to: str | None) -> list[Finding]:
    if not config.smtp_host:
        return [
            warn(
                "mail",
                f"no SMTP_HOST: receipts and notices are only written to {config.mail_dir}; "
                "set SMTP_HOST (and the other SMTP_ settings) so customers get them",
            )
        ]
    transport = SmtpTransport(config, sender)
    try:
        session = await transport.open()
    except DeliveryError as exc:
        return [fail("mail", f"{exc.reason}: check {_SETTINGS}")]
    steps = ["connected"]
    if config.smtp_security is SmtpSecurity.STARTTLS:
        steps.append("upgraded with STARTTLS")
    elif config.smtp_security is SmtpSecurity.TLS:
        steps.append("over TLS")
    if config.smtp_username:
        steps.append(f"logged in as {config.smtp_username}")
    findings = [ok("mail", f"{transport.describe()}: {', '.join(steps)}")]
    if config.smtp_security is SmtpSecurity.NONE and config.smtp_host not in _LOOPBACK:
        findings.append(
            warn(
                "mail",
                "SMTP_SECURITY=none sends mail and the password unencrypted: use it only for a "
                "relay on this machine, else set SMTP_SECURITY=starttls or tls",
            )
        )
    if test_to is None:
        await session.close()
        return findings
    try:
        note = await session.send(_test_message(sender, test_to), 0, "doctor-test")
    except DeliveryError as exc:
        session.abort()
        findings.append(fail("test mail", f"not accepted for {test_to}: {exc.reason}"))
        return findings
    await session.close()
    accepted = f"accepted by {transport.describe()} for {test_to}; look in that mailbox"
    findings.append(ok("test mail", accepted + (f" ({note})" if note else "")))
    return findings


def _test_message(sender: Address, to: str) -> Rendered:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "paydesk test message"
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = email.utils.make_msgid(domain=mail_domain(sender))
    message.set_content(
        "This message was sent by `paydesk doctor --send-test-mail` to show that paydesk can "
        "send mail. Nothing needs to be done.\n"
    )
    return Rendered(
        message_id=str(message["Message-ID"]),
        subject=str(message["Subject"]),
        recipients=(to,),
        message=message.as_string(policy=email.policy.SMTP),
    )
