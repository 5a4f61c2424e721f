"""Receipts and notifications: a durable outbox delivered over async SMTP (docs/mail.md).

Webhooks enqueue rows in `outbox` in the transaction that changes a payment; `MailSender`
renders and delivers them in the background, retrying until the server takes them.
"""

from .retry import RetryPolicy
from .sender import MailSender
from .wiring import mail_sender_context, mail_sender_ctx

__all__ = ["MailSender", "RetryPolicy", "mail_sender_context", "mail_sender_ctx"]
