"""When WebSockets are blocked (some proxies and networks), the status page polls and still gets there."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, Request, WebSocketRoute

from tests.browser.flows import expect_status, mark, pay_by_card, start_checkout
from tests.browser.harness import Paydesk


async def test_with_websockets_blocked_the_page_polls_to_the_final_state(
    paydesk: Paydesk, context: BrowserContext, page: Page
) -> None:
    payment_id = await start_checkout(page, paydesk)
    checkout_url = page.url

    # page.route() does not see WebSocket upgrades; route_web_socket() does. Every upgrade to the
    # live socket is refused, as by a proxy that does not pass them.
    status = await context.new_page()
    refused: list[str] = []
    polls: list[str] = []

    async def refuse(ws: WebSocketRoute) -> None:
        refused.append(ws.url)
        await ws.close(code=1008, reason="blocked by the test")

    def count_poll(request: Request) -> None:
        if request.url.endswith(f"/api/payments/{payment_id}"):
            polls.append(request.url)

    await status.route_web_socket("**/live", refuse)
    status.on("request", count_poll)
    await status.goto(paydesk.at(f"/payments/{payment_id}"))
    await mark(status)
    await expect_status(status, "pending", "Waiting for your payment")

    await page.goto(checkout_url)
    await pay_by_card(page)
    await expect_status(status, "succeeded", "Paid")
    assert refused, "the page never tried its socket"
    assert polls, "the page reached the final state without polling"
