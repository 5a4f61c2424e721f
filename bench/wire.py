"""A lean HTTP/1.1 keep-alive client and WebSocket watcher on raw asyncio protocols.

aiohttp's client costs more CPU per request than paydesk's server side does, and the load generator
shares a 2-core machine with the server; these do the least work that still reads every answer.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import struct
import time
import zlib
from collections.abc import Callable

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")


class HttpError(Exception):
    pass


def request_bytes(
    method: str, path: str, port: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; `request` sends a prepared request and waits for the whole answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    @classmethod
    async def open(
        cls, port: int, host: str = "127.0.0.1", local_host: str | None = None
    ) -> HttpConnection:
        loop = asyncio.get_running_loop()
        local = (local_host, 0) if local_host else None
        _, proto = await loop.create_connection(cls, host, port, local_addr=local)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter and not self._waiter.done():
            self._waiter.set_exception(HttpError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._parse()

    def _parse(self) -> None:
        if self._waiter is None or self._waiter.done():
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end])
        match = CONTENT_LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        status_match = STATUS.match(head)
        status = int(status_match.group(1)) if status_match else 0
        body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        self._waiter.set_result((status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise HttpError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self._waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# -- WebSocket ----------------------------------------------------------------------------------

# What Chrome and Firefox offer; aiohttp then compresses every frame it sends to this socket.
BROWSER_EXTENSIONS = "permessage-deflate; client_max_window_bits"


class Watcher(asyncio.Protocol):
    """A WebSocket client on /payments/{id}/live that records when each text frame arrives.

    Answers the server's heartbeat pings with pongs (masked, as a client must), and inflates
    permessage-deflate frames when it offered the extension.
    """

    def __init__(
        self,
        payment_id: str,
        port: int,
        *,
        deflate: bool,
        on_frame: Callable[[Watcher, float, bytes], None] | None = None,
    ) -> None:
        self.payment_id = payment_id
        self.port = port
        self.deflate = deflate
        self.on_frame = on_frame
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.first_frame: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.closed = False
        self.close_code: int | None = None
        self._buffer = bytearray()
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflate else None
        self._handshaken = False

    @classmethod
    async def connect(
        cls,
        payment_id: str,
        port: int,
        *,
        deflate: bool,
        on_frame: Callable[[Watcher, float, bytes], None] | None = None,
        local_host: str | None = None,
    ) -> Watcher:
        loop = asyncio.get_running_loop()
        local = (local_host, 0) if local_host else None
        _, proto = await loop.create_connection(
            lambda: cls(payment_id, port, deflate=deflate, on_frame=on_frame),
            "127.0.0.1",
            port,
            local_addr=local,
        )
        await proto.upgraded
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET /payments/{self.payment_id}/live HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: http://127.0.0.1:{self.port}",
        ]
        if self.deflate:
            lines.append(f"Sec-WebSocket-Extensions: {BROWSER_EXTENSIONS}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(HttpError(f"closed before the upgrade: {exc}"))
        if not self.first_frame.done():
            self.first_frame.set_exception(HttpError("closed before the first frame"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        if not self._handshaken:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(HttpError(head.split(b"\r\n", 1)[0].decode()))
                assert self.transport is not None
                self.transport.close()
                return
            if self.deflate and b"permessage-deflate" not in head.lower():
                self._inflater = None  # the server declined the extension
            self._handshaken = True
            self.upgraded.set_result(None)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self._buffer
        while len(buf) >= 2:
            first, second = buf[0], buf[1]
            length = second & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = struct.unpack_from("!H", buf, 2)[0]
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = struct.unpack_from("!Q", buf, 2)[0]
                offset = 10
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            opcode = first & 0x0F
            if opcode == 0x1:
                if first & 0x40 and self._inflater is not None:
                    payload = self._inflater.decompress(payload + b"\x00\x00\xff\xff")
                self.frames += 1
                if not self.first_frame.done():
                    self.first_frame.set_result(now)
                if self.on_frame is not None:
                    self.on_frame(self, now, payload)
            elif opcode == 0x9:
                self._send(0xA, payload)  # pong
            elif opcode == 0x8:
                self.close_code = (
                    struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
                )
                self._send(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()
                return

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()
