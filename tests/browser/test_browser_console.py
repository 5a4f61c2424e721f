"""The operator's console in a real browser: sign in, find the payment, refund it, and the customer sees it."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, expect

from server.config import ConsoleSettings
from server.console.sessions import password_hasher, set_password
from server.web.keys import db_key
from tests.browser.flows import (
    LIVE_TIMEOUT,
    expect_status,
    mark,
    pay_by_card,
    screenshot,
    start_checkout,
)
from tests.browser.harness import DESKTOP, Paydesk, Problems, watch
from tests.console_helpers import insert_payments, payment_row

PHONE_390 = {"width": 390, "height": 844}
DAY_MS = 86_400_000

PASSWORD = "correct horse battery staple"
# Cheap argon2 costs for the test; the login check reads the costs from the stored hash.
FAST_HASH = ConsoleSettings(argon2_time_cost=1, argon2_memory_kib=8 * 1024, argon2_parallelism=1)


@pytest_asyncio.fixture(loop_scope="session")
async def operator(browser: Browser, problems: Problems) -> AsyncIterator[Page]:
    """The operator's own browser: its cookies are not the customer's."""
    async with operator_tab(browser, problems, DESKTOP) as tab:
        yield tab


@pytest_asyncio.fixture(loop_scope="session")
async def operator_phone(browser: Browser, problems: Problems) -> AsyncIterator[Page]:
    """The operator's phone, 390 by 844 CSS pixels."""
    async with operator_tab(browser, problems, PHONE_390) as tab:
        yield tab


@asynccontextmanager
async def operator_tab(
    browser: Browser, problems: Problems, viewport: dict[str, int]
) -> AsyncIterator[Page]:
    """A tab in a browser context of its own, watched for errors like the customer's."""
    context: BrowserContext = await browser.new_context(viewport=viewport, locale="en-GB")
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

    await set_password(paydesk.app[db_key], PASSWORD, password_hasher(FAST_HASH))
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


async def sign_in_operator(operator: Page, paydesk: Paydesk, path: str = "/admin") -> None:
    await set_password(paydesk.app[db_key], PASSWORD, password_hasher(FAST_HASH))
    await operator.goto(paydesk.at(path))
    await operator.get_by_label("Password").fill(PASSWORD)
    await operator.get_by_role("button", name="Sign in").click()
    await operator.wait_for_url(paydesk.at(path))


async def test_the_dashboard_figures_and_chart_follow_a_new_payment_live(
    paydesk: Paydesk, page: Page, operator: Page
) -> None:
    await sign_in_operator(operator, paydesk)
    await expect(operator.locator("[data-live-state]")).to_have_text("live")
    await mark(operator)
    today = operator.locator('[data-period="0"]')
    await expect(today.locator("[data-paid]")).to_have_text("0")
    await expect(operator.get_by_text("No paid payments in the last 30 days.")).to_be_visible()

    await start_checkout(page, paydesk, name="Grace Hopper", email="grace@example.com")
    await pay_by_card(page)

    await expect(today.locator('[data-revenue="eur"]')).to_have_text("€15.00", timeout=LIVE_TIMEOUT)
    await expect(today.locator("[data-paid]")).to_have_text("1")
    await expect(today.locator("[data-success]")).to_have_text("100.0%")
    await expect(operator.locator('[data-chart="eur"] rect.chart-bar')).to_have_count(1)
    await expect(operator.get_by_text("kept up to date while this page is open")).to_be_visible()
    assert await operator.evaluate("window.__sameDocument === true"), "the page was reloaded"


async def test_the_revenue_chart_reads_on_a_phone(paydesk: Paydesk, operator_phone: Page) -> None:
    now = int(time.time() * 1000)
    await insert_payments(
        paydesk.app[db_key],
        [
            payment_row(
                f"pay_day{days:02d}", created_at=now - days * DAY_MS, amount=1500 + days * 700
            )
            for days in range(0, 30, 2)
        ],
    )
    await sign_in_operator(operator_phone, paydesk)
    chart = operator_phone.locator("figure.chart")  # one currency: one chart
    await chart.scroll_into_view_if_needed()
    plot = await chart.locator("svg").bounding_box()
    assert plot is not None
    assert plot["height"] >= 120, plot  # bars tall enough to compare
    assert plot["x"] >= 0 and plot["x"] + plot["width"] <= PHONE_390["width"], plot
    labels = chart.locator(".chart-label")
    await expect(labels).to_have_count(3)  # best day, first and last day
    for label in await labels.all():
        await expect(label).to_be_visible()
        box = await label.bounding_box()
        assert box is not None and box["height"] >= 12, (await label.text_content(), box)
    # Nothing on the page is wider than the phone.
    assert (
        await operator_phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
    )
    await screenshot(operator_phone, "console-dashboard-phone")


async def test_a_click_anywhere_on_a_row_opens_the_payment(
    paydesk: Paydesk, operator: Page
) -> None:
    now = int(time.time() * 1000)
    await insert_payments(
        paydesk.app[db_key],
        [
            payment_row("pay_older_row", created_at=now - 1000, name="Alan Turing"),
            payment_row("pay_newer_row", created_at=now, name="Mary Somerville"),
        ],
    )
    await sign_in_operator(operator, paydesk, "/admin/payments")
    rows = operator.locator("table.payments tbody tr")
    # A real click in the middle of the amount, a cell with no link text in it.
    amount = await rows.nth(1).locator("td.num").bounding_box()
    assert amount is not None
    await operator.mouse.click(
        amount["x"] + amount["width"] / 2, amount["y"] + amount["height"] / 2
    )
    await operator.wait_for_url("**/admin/payments/pay_older_row")

    await operator.go_back()
    await operator.get_by_label("Search").focus()
    link = operator.get_by_role("link", name="Mary Somerville")
    for _ in range(20):  # Tab through the filters to the first row's link
        await operator.keyboard.press("Tab")
        if await link.evaluate("node => node === document.activeElement"):
            break
    await operator.keyboard.press("Enter")
    await operator.wait_for_url("**/admin/payments/pay_newer_row")
