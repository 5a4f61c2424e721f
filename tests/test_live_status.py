"""GET /payments/{id}/live: snapshots on connect and after each change, heartbeats, several tabs, slow clients, shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import ClientWebSocketResponse, WSCloseCode, WSMsgType
from aiohttp.test_utils import TestClient

from server.web.keys import status_pages_key
from tests import lifecycle_events as flows
from tests.live import next_snapshot, open_live, wait_for_status
from tests.seed import seed_payment
from tests.test_webhooks import post_event


async def seeded(client: TestClient) -> None:
    await seed_payment(
        client,
        flows.PAYMENT_ID,
        session_id=flows.SESSION_ID,
        intent_id=flows.PI_ID,
        amount=flows.AMOUNT,
    )


async def test_connect_gets_a_snapshot_of_what_the_page_shows(client: TestClient) -> None:
    await seeded(client)
    ws = await open_live(client, flows.PAYMENT_ID)
    frame = await next_snapshot(ws)
    assert frame["type"] == "payment"
    assert frame["version"] == 1
    payment = frame["payment"]
    assert (payment["status"], payment["amount"], payment["amount_display"]) == (
        "pending",
        2500,
        "€25.00",
    )
    assert payment["email"] == "a•••@example.com"
    assert "ada@example.com" not in json.dumps(frame)
    assert payment["view"]["final"] is False
    await ws.close()


async def test_two_tabs_both_get_each_change_in_order(client: TestClient) -> None:
    await seeded(client)
    tabs = [await open_live(client, flows.PAYMENT_ID) for _ in range(2)]
    for tab in tabs:
        assert (await next_snapshot(tab))["version"] == 1
    s = flows.Stripe("hand-built")
    for event in flows.decline_then_success(s):
        assert (await post_event(client, event))[0] == 200
    for tab in tabs:
        final = await wait_for_status(tab, "succeeded")
        assert final["payment"]["view"]["final"] is True
        await tab.close()


async def test_a_reconnect_gets_the_latest_version(client: TestClient) -> None:
    await seeded(client)
    first = await open_live(client, flows.PAYMENT_ID)
    await next_snapshot(first)
    await first.close()
    for event in flows.card_success(flows.Stripe("hand-built")):
        await post_event(client, event)
    again = await open_live(client, flows.PAYMENT_ID)
    latest = await next_snapshot(again)
    assert latest["payment"]["status"] == "succeeded"
    assert latest["version"] > 1
    await again.close()


async def test_a_client_that_stops_reading_is_dropped_without_delaying_another(
    client: TestClient,
) -> None:
    await seeded(client)
    stalled = await open_live(client, flows.PAYMENT_ID)  # never reads again
    reader = await open_live(client, flows.PAYMENT_ID)
    await next_snapshot(reader)
    hub = client.server.app[status_pages_key].hub
    big = "x" * 256 * 1024
    received = 0
    # Large frames fill the stalled socket's buffers and then its queue; the reader keeps up.
    for version in range(2, 80):
        hub.publish(
            flows.PAYMENT_ID,
            json.dumps({"type": "payment", "version": version, "pad": big}),
            version,
        )
        frame = await reader.receive(timeout=5)
        assert frame.type is WSMsgType.TEXT
        assert json.loads(frame.data)["version"] == version
        received += 1
        await asyncio.sleep(0)
    assert received == 78
    async with asyncio.timeout(5):
        while hub.count > 1:
            await asyncio.sleep(0.05)
    assert hub.count == 1  # the stalled client was cut off; the reader is still there
    await reader.close()
    await stalled.close()


async def test_per_payment_cap_closes_with_try_again_later(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(LIVE_MAX_PER_PAYMENT="2")
    await seeded(client)
    tabs = [await open_live(client, flows.PAYMENT_ID) for _ in range(2)]
    extra = await open_live(client, flows.PAYMENT_ID)
    message = await extra.receive(timeout=5)
    assert message.type is WSMsgType.CLOSE
    assert extra.close_code == WSCloseCode.TRY_AGAIN_LATER
    assert message.extra == "too many open pages for this payment"
    for tab in tabs:
        await tab.close()


async def test_shutdown_closes_every_socket_with_going_away(client: TestClient) -> None:
    await seeded(client)
    ws = await open_live(client, flows.PAYMENT_ID)
    await next_snapshot(ws)
    closing = asyncio.create_task(client.server.close())
    message = await ws.receive(timeout=10)
    assert message.type is WSMsgType.CLOSE
    assert ws.close_code == WSCloseCode.GOING_AWAY
    await closing


async def test_sockets_refuse_compression_to_keep_idle_watchers_small(client: TestClient) -> None:
    await seeded(client)
    ws = await client.ws_connect(
        f"/payments/{flows.PAYMENT_ID}/live", compress=15
    )  # offered as browsers do
    assert ws.compress == 0
    await ws.close()


async def test_a_quiet_socket_gets_a_heartbeat_the_page_can_read(client: TestClient) -> None:
    await seeded(client)
    hub = client.server.app[status_pages_key].hub
    hub.heartbeat_every_s = 0.3  # the status page's deadline follows it (data-heartbeat-s)
    ws = await open_live(client, flows.PAYMENT_ID)
    assert (await next_snapshot(ws))["type"] == "payment"  # the snapshot comes first, at once
    for _ in range(3):  # and then, while nothing changes, heartbeats keep coming
        message = await ws.receive(timeout=3)
        assert message.type is WSMsgType.TEXT, message
        assert json.loads(message.data) == {"type": "heartbeat"}
    # A change between heartbeats is pushed as usual, and heartbeats go on after it.
    for event in flows.card_success(flows.Stripe("hand-built")):
        await post_event(client, event)
    frames = await frames_until(ws, lambda f: f["type"] == "heartbeat")
    assert [f["payment"]["status"] for f in frames[:-1]][-1] == "succeeded"
    await ws.close()
    async with asyncio.timeout(5):
        while hub.count:  # gone from the hub, heartbeats included
            await asyncio.sleep(0.05)


async def test_the_status_page_tells_its_script_how_often_heartbeats_come(
    client: TestClient,
) -> None:
    await seeded(client)
    client.server.app[status_pages_key].hub.heartbeat_every_s = 7.5
    html = await (await client.get(f"/payments/{flows.PAYMENT_ID}")).text()
    assert 'data-heartbeat-s="7.5"' in html


async def test_the_snapshot_carries_the_customer_reference(client: TestClient) -> None:
    await seeded(client)
    ws = await open_live(client, flows.PAYMENT_ID)
    frame = await next_snapshot(ws)
    assert frame["payment"]["reference"] == flows.PAYMENT_ID[:12]
    assert frame["payment"]["nothing_charged"] is True
    await ws.close()


async def frames_until(
    ws: ClientWebSocketResponse, done: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every frame read, heartbeats included, until one satisfies `done` (that one last)."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not frames or not done(frames[-1]):
            message = await ws.receive()
            assert message.type is WSMsgType.TEXT, message
            frames.append(json.loads(message.data))
    return frames
