"""The operators' live feed over /admin/live: new payments arrive without a reload; it is never waited on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from server.console.feed import QUEUE_SIZE, TOPIC, operator_hub
from server.console.keys import console_key
from server.web.fanout import BoundedSender, Subscriber
from tests.console_helpers import post_form, sign_in, start_console
from tests.pages import pay_on_hosted_page

ORDER = {
    "product": "drop-in-class",
    "quantity": 1,
    "name": "Grace Hopper",
    "email": "grace@example.com",
}


@pytest.fixture
async def console(aiohttp_server, aiohttp_client, app_env: dict[str, str]) -> TestClient:  # type: ignore[no-untyped-def]
    client = await start_console(aiohttp_server, aiohttp_client, app_env)
    await sign_in(client)
    return client


async def next_item(ws: ClientWebSocketResponse, payment_id: str, status: str) -> dict[str, Any]:
    """Read frames until one says `payment_id` is in `status`."""
    async with asyncio.timeout(10):
        while True:
            message = await ws.receive()
            assert message.type is WSMsgType.TEXT, message
            frame = json.loads(message.data)
            if frame["payment"]["id"] == payment_id and frame["payment"]["status"] == status:
                return dict(frame["payment"])


async def test_a_new_payment_appears_on_the_open_dashboard(console: TestClient) -> None:
    ws = await console.ws_connect("/admin/live")
    response = await console.post("/api/checkout", json=ORDER)
    checkout = await response.json()
    item = await next_item(ws, checkout["payment_id"], "pending")
    assert (item["customer_name"], item["customer_email"], item["amount_display"]) == (
        "Grace Hopper",
        "grace@example.com",
        "€15.00",
    )
    assert item["url"] == f"/admin/payments/{checkout['payment_id']}"
    assert (await pay_on_hosted_page(checkout["checkout_url"]))[0] == 303
    await next_item(ws, checkout["payment_id"], "succeeded")
    await ws.close()


async def test_signing_out_closes_the_live_feed(console: TestClient) -> None:
    ws = await console.ws_connect("/admin/live")
    assert console.server.app[console_key].feed.hub.count == 1
    assert (await post_form(console, "/admin/logout")).status == 303
    message = await ws.receive(timeout=5)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    with pytest.raises(WSServerHandshakeError) as refused:
        await console.ws_connect("/admin/live")
    assert refused.value.status == 401


async def test_the_live_feed_refuses_another_site(console: TestClient) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await console.ws_connect("/admin/live", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


class FakeTransport:
    aborted = False

    def abort(self) -> None:
        self.aborted = True


class StalledSocket:
    """A client that never takes another byte: every send waits forever."""

    async def send_str(self, frame: str) -> None:
        await asyncio.Event().wait()


async def test_an_operator_socket_that_stops_reading_is_dropped_not_waited_on() -> None:
    feed = operator_hub()
    transport = FakeTransport()
    sender = BoundedSender(ws=StalledSocket(), transport=transport, queue_size=QUEUE_SIZE)  # type: ignore[arg-type]
    feed.add(Subscriber(TOPIC, sender, owner="s"))
    feed.publish(TOPIC, "frame 0")
    await asyncio.sleep(0)  # the sender takes it and stalls in send_str
    for n in range(1, QUEUE_SIZE + 1):
        feed.publish(TOPIC, f"frame {n}")
    assert not transport.aborted
    feed.publish(TOPIC, "one too many")  # returns at once: nothing awaits the slow socket
    assert transport.aborted
    await sender.close()
