"""Receipts and notifications: a durable outbox delivered over async SMTP (docs/mail.md).

Webhooks enqueue rows in `outbox` in the transaction that changes a payment; `MailSender`
renders and delivers them in the background, retrying until the server takes them.
"""

from .retry import RetryPolicy
from .sender import MailSender

__all__ = ["MailSender", "RetryPolicy"]
