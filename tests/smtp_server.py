"""A real SMTP server on loopback (aiosmtpd, in the test's event loop) that tests tell how to answer.

    server = SmtpServer()            # picks a free port; nothing listens until start()
    await server.start()
    server.data_replies.append("451 4.7.1 Try again later")  # the next DATA is deferred
    server.rcpt_replies["ada@example.com"] = "550 5.1.1 No such user"
    server.hang_data = True          # DATA is read and never answered
    await server.wait_for(2)         # the accepted messages, parsed

`HangingServer` accepts connections and never says a word (not even the greeting). A port with
nothing listening stands for a server that is down: connections are refused.
`with_mail_sender(app, ctx)` gives a test's app exactly the mail sender the test wants.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import deque
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from server.mail import MailSender
from server.mail.compose import Composer
from server.mail.transport import FolderTransport
from server.resources import CleanupContext, mail_links, mail_sender_ctx
from server.web.keys import catalog_key, config_key, db_key, mail_sender_key
from tests.conftest import free_port

OK = "250 2.0.0 OK: queued"


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.accepted: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs) of accepted mail
        self.data_attempts: list[
            EmailMessage
        ] = []  # every message that reached DATA, accepted or not
        self.rcpt_attempts: list[str] = []
        self.data_replies: deque[str] = deque()  # answers to the next DATA commands; then OK
        self.rcpt_replies: dict[str, str] = {}  # address → a refusal, every time it is offered
        self.hang_data = False
        self.connections = 0
        self.logins: list[tuple[str, str]] = []
        self._server: asyncio.Server | None = None
        self._protocols: list[SMTP] = []
        self._arrived = asyncio.Event()
        self._release = asyncio.Event()  # set on stop: a hung DATA returns

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            for protocol in self._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let the closed connections' handlers finish

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Wait until `count` messages were accepted; fails the test on timeout."""
        async with asyncio.timeout(timeout):
            while len(self.accepted) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.accepted

    def _protocol(self) -> SMTP:
        self.connections += 1
        protocol = SMTP(
            _Handler(self),
            hostname="mx.test",
            authenticator=self._authenticate,
            auth_require_tls=False,  # loopback only; the client's TLS settings are not under test here
        )
        self._protocols.append(protocol)
        return protocol

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        self.owner.rcpt_attempts.append(address)
        refusal = self.owner.rcpt_replies.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        message = parse(envelope.content)
        self.owner.data_attempts.append(message)
        if self.owner.hang_data:
            await self.owner._release.wait()
            return "451 4.3.0 shutting down"
        if self.owner.data_replies:
            return self.owner.data_replies.popleft()
        self.owner.accepted.append(message)
        self.owner.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.owner._arrived.set()
        return OK


class HangingServer:
    """Accepts TCP connections and then says nothing at all."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", self.port)

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        await reader.read()  # until the client gives up and closes

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()
            self._server = None


def with_mail_sender(app: web.Application, ctx: CleanupContext | None) -> web.Application:
    """Run `ctx` as the app's mail sender, whether or not create_app already runs the default
    one: tests need fast retries. None: a sender that is never started, so queued mail stays
    queued for a test's own sender or commands, and wake() after a webhook is still there."""
    contexts = [c for c in app.cleanup_ctx if c is not mail_sender_ctx]
    app.cleanup_ctx[:] = [*contexts, ctx or _parked_mail_sender]
    return app


async def _parked_mail_sender(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]
    composer = Composer(config, app[catalog_key], mail_links(app))
    app[mail_sender_key] = MailSender(app[db_key], composer, FolderTransport(config.mail_dir))
    yield
