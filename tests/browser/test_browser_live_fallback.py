"""When WebSockets are blocked or silenced (some proxies and networks), the status page polls and still gets there."""

from __future__ import annotations

import time

from playwright.async_api import BrowserContext, Page, Request, WebSocketRoute

from server.web.keys import status_pages_key
from tests.browser.flows import expect_status, mark, pay_by_card, start_checkout
from tests.browser.harness import Paydesk

# Paid shows within this of the payment: the first-frame deadline plus a poll or two.
PAID_SOON_MS = 10_000


async def test_with_websockets_blocked_the_page_polls_to_the_final_state(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    checkout_url = page.url

    # page.route() does not see WebSocket upgrades; route_web_socket() does. Every upgrade to the
    # live socket is refused, as by a proxy that does not pass them.
    status = await context.new_page()
    refused: list[str] = []

    async def refuse(ws: WebSocketRoute) -> None:
        refused.append(ws.url)
        await ws.close(code=1008, reason="blocked by the test")

    await status.route_web_socket("**/live", refuse)
    polls = counting_polls(status, payment_id)
    await status.goto(paydesk.at(f"/payments/{payment_id}"))
    await mark(status)
    await expect_status(status, "pending", "Waiting for your payment")

    await page.goto(checkout_url)
    await pay_by_card(page)
    await expect_status(status, "succeeded", "Paid")
    assert refused, "the page never tried its socket"
    assert polls, "the page reached the final state without polling"


def counting_polls(page: Page, payment_id: str) -> list[float]:
    """When the page fetched the payment's JSON (monotonic seconds), as it does while polling."""
    polls: list[float] = []

    def count(request: Request) -> None:
        if request.url.endswith(f"/api/payments/{payment_id}"):
            polls.append(time.monotonic())

    page.on("request", count)
    return polls


async def test_a_socket_held_open_and_silent_gives_way_to_polling(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    checkout_url = page.url

    # Accepted and then silent, as by a proxy that holds the upgrade and passes nothing: the
    # handler never connects to paydesk and never sends, so the page sees an open, quiet socket.
    status = await context.new_page()
    held: list[WebSocketRoute] = []

    async def hold(ws: WebSocketRoute) -> None:
        held.append(ws)

    await status.route_web_socket("**/live", hold)
    polls = counting_polls(status, payment_id)
    await status.goto(paydesk.at(f"/payments/{payment_id}"))
    await mark(status)

    await page.goto(checkout_url)
    await pay_by_card(page)
    paid_at = time.monotonic()
    await expect_status(status, "succeeded", "Paid")
    assert time.monotonic() - paid_at < PAID_SOON_MS / 1000, "paid showed up, but late"
    assert held, "the page never opened its socket"
    assert polls, "the page reached the final state without polling"


async def test_a_socket_that_goes_quiet_after_its_snapshot_gives_way_to_polling(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    # Heartbeats every half second: the page gives up on a socket quiet for 1.25 s.
    paydesk.app[status_pages_key].hub.heartbeat_every_s = 0.5
    payment_id = await start_checkout(page, paydesk)
    checkout_url = page.url

    # The first frame (the snapshot) gets through; then the way goes dead, heartbeats and all.
    status = await context.new_page()
    passed: list[str] = []

    async def first_frame_only(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_paydesk(message: str | bytes) -> None:
            if not passed:
                passed.append(str(message))
                ws.send(message)

        server.on_message(from_paydesk)

    await status.route_web_socket("**/live", first_frame_only)
    polls = counting_polls(status, payment_id)
    await status.goto(paydesk.at(f"/payments/{payment_id}"))
    await mark(status)
    await expect_status(status, "pending", "Waiting for your payment")

    await page.goto(checkout_url)
    await pay_by_card(page)
    await expect_status(status, "succeeded", "Paid")
    assert passed and '"type": "payment"' in passed[0]
    assert polls, "the page reached the final state without polling"
