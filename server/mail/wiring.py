"""How the app starts and stops the mail sender: its cleanup context, links and transport."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from email.headerregistry import Address

from aiohttp import web

from ..config import Config
from ..keys import (
    catalog_key,
    config_key,
    db_key,
    foreground_key,
    mail_sender_key,
    payment_listeners_key,
)
from ..pacing import BackgroundPacer
from .compose import Composer, from_address
from .messages import Links
from .retry import RetryPolicy
from .sender import DEFAULT_BATCH, DEFAULT_IDLE, MailSender
from .transport import FolderTransport, SmtpTransport, Transport

log = logging.getLogger(__name__)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def mail_sender_context(
    *,
    policy: RetryPolicy | None = None,
    idle: float = DEFAULT_IDLE,
    batch_size: int = DEFAULT_BATCH,
) -> CleanupContext:
    """A cleanup context running one MailSender; tests pass a fast retry policy."""

    async def mail_sender(app: web.Application) -> AsyncIterator[None]:
        config = app[config_key]
        catalog = app[catalog_key]
        composer = Composer(config, catalog, app_links(app, config))
        sender = MailSender(
            app[db_key],
            composer,
            transport_for(config, from_address(config, catalog.shop)),
            policy=policy,
            idle=idle,
            batch_size=batch_size,
            pacer=BackgroundPacer(app[foreground_key]),
        )
        app[mail_sender_key] = sender

        # Called after every committed payment change (webhooks, checkout), which may have
        # queued mail: it goes out now, not at the next poll, and no caller has to remember to
        # wake the sender. Waking it costs one outbox query.
        async def wake(app: web.Application, payment_id: str) -> None:
            sender.wake()

        listeners = app.get(payment_listeners_key)
        if listeners is not None:
            listeners.append(wake)
        await sender.start()
        try:
            yield
        finally:
            if listeners is not None:
                listeners.remove(wake)
            await sender.stop()

    return mail_sender


mail_sender_ctx = mail_sender_context()


def transport_for(config: Config, sender: Address) -> Transport:
    if not config.smtp_host:
        log.warning(
            "mail: no SMTP_HOST set, so nothing is sent; messages are written as .eml files to %s",
            config.mail_dir,
        )
        return FolderTransport(config.mail_dir)
    transport = SmtpTransport(config, sender)
    log.info("mail: sending through %s as %s", transport.describe(), sender)
    return transport


def app_links(app: web.Application, config: Config) -> Links:
    def status(payment_id: str) -> str:
        return config.public_url + str(app.router["payment_status"].url_for(payment_id=payment_id))

    def console(payment_id: str) -> str:
        return config.public_url + str(app.router["admin.payment"].url_for(payment_id=payment_id))

    return Links(
        status=status, console=console, shop=config.public_url + str(app.router["index"].url_for())
    )
