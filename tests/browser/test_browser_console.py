"""The operator's console in a real browser: sign in, find the payment, refund it, and the customer sees it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, expect

from server.console import ConsoleSettings
from server.console.sessions import set_password
from server.keys import db_key
from tests.browser.flows import expect_status, mark, pay_by_card, screenshot, start_checkout
from tests.browser.harness import DESKTOP, Paydesk, Problems, watch

PASSWORD = "correct horse battery staple"
# Cheap argon2 costs for the test; the login check reads the costs from the stored hash.
FAST_HASH = ConsoleSettings(argon2_time_cost=1, argon2_memory_kib=8 * 1024, argon2_parallelism=1)


@pytest_asyncio.fixture(loop_scope="session")
async def operator(browser: Browser, problems: Problems) -> AsyncIterator[Page]:
    """The operator's own browser: its cookies are not the customer's."""
    context: BrowserContext = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(10_000)
    watch(context, problems)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_a_refund_in_the_console_turns_the_customers_page_to_refunded(
    paydesk: Paydesk, page: Page, operator: Page
) -> None:
    payment_id = await start_checkout(
        page, paydesk, product="ten-class-pass", name="Grace Hopper", email="grace@example.com"
    )
    await pay_by_card(page)
    await mark(page)
    await expect_status(page, "succeeded", "Paid", unchanged=False)

    await set_password(paydesk.app[db_key], PASSWORD, FAST_HASH.password_hasher())
    await operator.goto(paydesk.at("/admin"))
    await expect(operator).to_have_url(re.compile(r"/admin/login\?next=/admin$"))
    await operator.get_by_label("Password").fill(PASSWORD)
    await operator.get_by_role("button", name="Sign in").click()
    await operator.wait_for_url(paydesk.at("/admin"))
    await expect(operator.get_by_text("Grace Hopper").first).to_be_visible()
    await screenshot(operator, "console-dashboard")

    await operator.goto(paydesk.at("/admin/payments"))
    await operator.get_by_label("Search").fill("grace@example.com")
    await operator.get_by_label("Search").press("Enter")
    rows = operator.locator("table.payments tbody tr")
    await expect(rows).to_have_count(1)
    await rows.first.get_by_role("link").click()
    await operator.wait_for_url(f"**/admin/payments/{payment_id}")
    await operator.get_by_role("button", name="Review refund…").click()
    await operator.get_by_role("button", name="Yes, refund €120.00").click()

    await expect_status(page, "refunded", "Refunded")
    await expect(page.locator("#status-detail")).to_contain_text("€120.00 is refunded")
