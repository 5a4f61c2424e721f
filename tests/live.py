"""Watching a payment's live socket the way the status page does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient


async def next_snapshot(ws: ClientWebSocketResponse, timeout: float = 10.0) -> dict[str, Any]:
    """The next payment frame; heartbeats, which only say the socket is alive, are passed over."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            assert message.type is WSMsgType.TEXT, message
            frame = json.loads(message.data)
            if frame.get("type") != "heartbeat":
                return frame


async def wait_for_status(
    ws: ClientWebSocketResponse, status: str, timeout: float = 15.0
) -> dict[str, Any]:
    """Read pushed snapshots until one shows `status`; fail with what was seen instead."""
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await next_snapshot(ws, timeout)
            seen.append(frame["payment"]["status"])
            if frame["payment"]["status"] == status:
                return frame
    raise AssertionError(
        f"never saw {status}; saw {seen}"
    )  # pragma: no cover - timeout raises first


async def open_live(client: TestClient, payment_id: str) -> ClientWebSocketResponse:
    return await client.ws_connect(f"/payments/{payment_id}/live")
