"""Where rendered messages go: an SMTP server over aiosmtplib, or .eml files in a folder."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from email.headerregistry import Address
from pathlib import Path
from typing import Protocol

import aiosmtplib

from ..config import Config, SmtpSecurity
from .compose import mail_domain
from .outbox import Rendered

log = logging.getLogger(__name__)

SERVICE_CLOSING = 421  # RFC 5321: the server is closing the connection


class DeliveryError(Exception):
    """An attempt that did not deliver. `permanent`: do not retry (a 5xx refusal).
    `connection_lost`: the connection cannot carry another message."""

    def __init__(
        self, reason: str, *, permanent: bool = False, connection_lost: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.connection_lost = connection_lost


class Session(Protocol):
    async def send(self, rendered: Rendered, outbox_id: int, kind: str) -> str | None:
        """Deliver one message; returns a note on a partial refusal, raises DeliveryError."""

    async def close(self) -> None:
        """End the session politely, after a batch that ran to its end."""

    def abort(self) -> None:
        """Drop the connection at once: the batch was cancelled or the connection is unusable."""


class Transport(Protocol):
    async def open(self) -> Session:
        """A session for one batch; DeliveryError when the server cannot be reached."""


class SmtpTransport:
    """One SMTP connection per batch, reused for every message in it."""

    def __init__(self, config: Config, sender: Address) -> None:
        self._config = config
        self._sender = sender  # the envelope sender; its domain names us in EHLO

    def describe(self) -> str:
        c = self._config
        return f"{c.smtp_host}:{c.smtp_port} ({c.smtp_security})"

    async def open(self) -> Session:
        c = self._config
        smtp = aiosmtplib.SMTP(
            hostname=c.smtp_host,
            port=c.smtp_port,
            timeout=c.smtp_timeout,  # for the connection and for each command's reply
            use_tls=c.smtp_security is SmtpSecurity.TLS,
            start_tls=c.smtp_security is SmtpSecurity.STARTTLS,
            # Our own name for EHLO: the default asks DNS for this host's name, which can hang.
            local_hostname=mail_domain(self._sender),
        )
        opened = False
        try:
            # connect() waits for the greeting, STARTTLS and EHLO, each within smtp_timeout;
            # the outer limit bounds their sum.
            async with asyncio.timeout(c.smtp_timeout * 4):
                await smtp.connect()
                if c.smtp_username:  # never AUTH without a user name
                    await smtp.login(c.smtp_username, c.smtp_password)
            opened = True
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(
                f"cannot connect to {self.describe()}: {_describe(exc)}",
                permanent=False,  # a down or misconfigured server: keep the mail until it is back
                connection_lost=True,
            ) from exc
        finally:
            if not opened:  # refused, timed out or cancelled half way: leave no socket behind
                smtp.close()
        return _SmtpSession(smtp, self._sender.addr_spec, c.smtp_timeout)


class _SmtpSession:
    def __init__(self, smtp: aiosmtplib.SMTP, sender: str, timeout: float) -> None:
        self._smtp = smtp
        self._sender = sender
        self._timeout = timeout

    async def send(self, rendered: Rendered, outbox_id: int, kind: str) -> str | None:
        try:
            # MAIL, one RCPT per recipient, DATA: each waits at most `timeout` for its reply.
            limit = self._timeout * (3 + len(rendered.recipients))
            async with asyncio.timeout(limit):
                refused, _ = await self._smtp.sendmail(
                    self._sender, list(rendered.recipients), rendered.message.encode("ascii")
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            self._close_if(SERVICE_CLOSING in codes)
            raise DeliveryError(
                reason,
                permanent=all(_is_permanent(code) for code in codes),
                connection_lost=not self._smtp.is_connected,
            ) from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            # MAIL FROM refused (often 530/550 "authentication required" or "not allowed to send
            # as"): the settings are wrong, not this message. It waits for the fix, within the
            # retry limit, rather than failing every message queued meanwhile.
            self._close_if(exc.code == SERVICE_CLOSING)
            log.error(
                "the mail server refused MAIL_FROM %s: %s %s", self._sender, exc.code, exc.message
            )
            raise DeliveryError(
                f"sender refused: {exc.code} {exc.message}",
                connection_lost=not self._smtp.is_connected,
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            self._close_if(exc.code == SERVICE_CLOSING)
            raise DeliveryError(
                f"{exc.code} {exc.message}",
                permanent=_is_permanent(exc.code),
                connection_lost=not self._smtp.is_connected,
            ) from exc
        except (aiosmtplib.SMTPServerDisconnected, OSError, TimeoutError) as exc:
            # Whether the server kept a message it never confirmed is unknown: it stays pending
            # and is sent again, with the same Message-ID (docs/mail.md, "the crash window").
            self._smtp.close()
            raise DeliveryError(_describe(exc), connection_lost=True) from exc
        except (aiosmtplib.SMTPException, ValueError) as exc:
            # SMTPNotSupported (an address needing SMTPUTF8 the server lacks) or an address the
            # client refuses to send: the same message will meet the same refusal.
            raise DeliveryError(_describe(exc), permanent=True) from exc
        if refused:
            return "delivered, but refused for " + "; ".join(
                f"{address}: {reply.code} {reply.message}" for address, reply in refused.items()
            )
        return None

    def abort(self) -> None:
        self._smtp.close()

    def _close_if(self, closing: bool) -> None:
        if closing:
            self._smtp.close()

    async def close(self) -> None:
        if not self._smtp.is_connected:
            return
        try:
            await self._smtp.quit(timeout=self._timeout)
        except (aiosmtplib.SMTPException, OSError):
            pass  # everything this session sent is already marked; a rude goodbye changes nothing
        finally:
            self._smtp.close()


class FolderTransport:
    """With no SMTP_HOST: every message becomes an .eml file, byte for byte what SMTP would carry."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def describe(self) -> str:
        return str(self._folder)

    async def open(self) -> Session:
        try:
            await asyncio.to_thread(self._folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot create {self._folder}: {exc}") from exc
        return _FolderSession(self._folder)


class _FolderSession:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def send(self, rendered: Rendered, outbox_id: int, kind: str) -> str | None:
        # Named by the outbox id and the Message-ID, so a resend after a crash overwrites the
        # file it already wrote instead of adding a second copy.
        token = hashlib.sha256(rendered.message_id.encode()).hexdigest()[:10]
        path = self._folder / f"{outbox_id:06d}-{kind}-{token}.eml"
        try:
            await asyncio.to_thread(_write_atomically, path, rendered.message.encode("ascii"))
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc}") from exc
        return None

    async def close(self) -> None:
        return None

    def abort(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    os.replace(partial, path)  # a reader never sees half a message


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def transport_for(config: Config, sender: Address) -> Transport:
    """SMTP when SMTP_HOST is set, else .eml files in MAIL_DIR; says which in the log."""
    if not config.smtp_host:
        log.warning(
            "mail: no SMTP_HOST set, so nothing is sent; messages are written as .eml files to %s",
            config.mail_dir,
        )
        return FolderTransport(config.mail_dir)
    transport = SmtpTransport(config, sender)
    log.info("mail: sending through %s as %s", transport.describe(), sender)
    return transport
