"""Refunds the customer and the operator watch live: refunded at Stripe, pending then refunded, refunded then failed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import SMTP_PORT
from tests.browser.flows import (
    LIVE_TIMEOUT,
    expect_status,
    mark,
    pay_by_card,
    screenshot,
    start_checkout,
    status_screenshot,
)
from tests.browser.harness import DESKTOP, Paydesk, Problems
from tests.browser.test_browser_console import operator_tab, sign_in_operator
from tests.smtp_server import SmtpServer

PENDING_REFUND = "4000 0000 0000 7726"  # Stripe's test card: its refunds are pending, then succeed
FAILING_REFUND = "4000 0000 0000 5126"  # Stripe's test card: its refunds succeed, then fail
OPERATOR = "owner@example.com"
WITH_MAIL = pytest.mark.paydesk_env(
    SMTP_HOST="127.0.0.1",
    SMTP_PORT=str(SMTP_PORT),
    SMTP_SECURITY="none",
    ADMIN_EMAIL=OPERATOR,
)


@pytest_asyncio.fixture(loop_scope="session")
async def operator(browser: Browser, problems: Problems) -> AsyncIterator[Page]:
    async with operator_tab(browser, problems, DESKTOP) as tab:
        yield tab


async def paid_by(page: Page, paydesk: Paydesk, card: str) -> str:
    payment_id = await start_checkout(page, paydesk, product="ten-class-pass")
    await pay_by_card(page, card)
    await mark(page)
    await expect_status(page, "succeeded", "Paid", unchanged=False)
    return payment_id


async def open_in_console(operator: Page, paydesk: Paydesk, payment_id: str) -> None:
    await sign_in_operator(operator, paydesk, f"/admin/payments/{payment_id}")


async def reload_until(operator: Page, selector: str, text: str) -> None:
    """The console page says, by itself, that the payment changed, and the operator reloads,
    until `selector` shows `text` (events come in any order: a change may need more than one)."""
    note = operator.locator("[data-watch-payment]")
    async with asyncio.timeout(2 * LIVE_TIMEOUT / 1000):
        while True:
            await expect(note).to_be_visible(timeout=LIVE_TIMEOUT)
            await note.get_by_role("link", name="Reload").click()
            await operator.wait_for_load_state()
            found = operator.locator(selector)
            if await found.count() and text in " ".join(await found.all_inner_texts()):
                return


async def test_refunds_reach_the_open_status_page_live(paydesk: Paydesk, page: Page) -> None:
    # Refunded at Stripe directly (its dashboard, or the API): paydesk learns of it from the webhook.
    # The console's own refund button is test_browser_console.py.
    payment_id = await paid_by(page, paydesk, "4242 4242 4242 4242")

    await paydesk.refund(payment_id, amount=2000)
    await expect_status(page, "partially_refunded", "Paid, partly refunded")
    await expect(page.locator("#status-detail")).to_have_text(
        "€20.00 of €120.00 is refunded to how you paid."
    )
    await status_screenshot(page, "partially_refunded")

    await paydesk.refund(payment_id)  # what remains
    await expect_status(page, "refunded", "Refunded")
    await expect(page.locator("#status-detail")).to_contain_text(
        "€120.00 is refunded to how you paid."
    )
    await status_screenshot(page, "refunded")
    # A refund can still fail after it succeeded: the page keeps listening, as a paid one does.
    await expect(page.locator("#live-status")).not_to_have_attribute("data-live", "ended")


async def test_a_pending_refund_shows_pending_then_refunded_live(
    paydesk: Paydesk, page: Page, operator: Page
) -> None:
    payment_id = await paid_by(page, paydesk, PENDING_REFUND)
    await open_in_console(operator, paydesk, payment_id)

    await paydesk.refund(payment_id)  # pending at first, as a bank refund is
    await expect_status(page, "refunded", "Refund on its way")
    await expect(page.locator("#status")).to_have_class(re.compile(r"\boutcome-refund_pending\b"))
    await expect(page.locator("#status-detail")).to_contain_text(
        "A refund of €120.00 is on its way to how you paid (started"
    )
    await status_screenshot(page, "refund_pending")
    await reload_until(operator, "[data-refund-pending]", "Refund pending: €120.00, since")
    refund_row = operator.locator("[data-refund-status]")
    await expect(refund_row).to_have_attribute("data-refund-status", "pending")

    assert await paydesk.run_timers(within=120) >= 1  # the bank completes the refund
    await expect_status(page, "refunded", "Refunded")
    await expect(page.locator("#status-detail")).to_contain_text("€120.00 is refunded")
    await expect(page.locator("#status")).not_to_have_class(re.compile("outcome-"))
    await reload_until(operator, "[data-refund-status]", "succeeded")
    await expect(operator.locator("[data-refund-pending]")).to_have_count(0)


@WITH_MAIL
async def test_a_refund_that_fails_comes_back_with_the_operators_mail(
    smtp: SmtpServer, paydesk: Paydesk, page: Page, operator: Page
) -> None:
    payment_id = await paid_by(page, paydesk, FAILING_REFUND)
    await open_in_console(operator, paydesk, payment_id)
    await operator.get_by_role("button", name="Review refund…").click()
    await operator.get_by_role("button", name="Yes, refund €120.00").click()
    await expect_status(page, "refunded", "Refunded")
    await expect(operator.get_by_text("No refund is possible")).to_be_visible()

    assert await paydesk.run_timers(within=120) >= 1  # the customer's bank sends it back
    # The customer's page goes back to paid by itself; nothing there says refunded any more.
    await expect_status(page, "succeeded", "Paid")
    await expect(page.locator("#status")).not_to_contain_text(re.compile("refund", re.I))

    await reload_until(operator, "[data-refund-failed]", "A refund of €120.00 failed:")
    failed = operator.locator("[data-refund-failed]")
    await expect(failed).to_contain_text("The money stays with you")
    await expect(operator.locator("[data-refund-status]")).to_have_attribute(
        "data-refund-status", "failed"
    )
    await expect(operator.get_by_role("button", name="Review refund…")).to_be_visible()
    await screenshot(operator, "console-refund-failed")

    subjects: list[str] = []
    for _ in range(10):  # receipt, new payment notice, refund confirmation, then the failure
        messages = await smtp.wait_for(len(subjects) + 1, timeout=LIVE_TIMEOUT / 1000)
        subjects = [str(m["Subject"]) for m in messages]
        if any("Refund failed" in s for s in subjects):
            break
    [failure] = [m for m in smtp.accepted if "Refund failed" in str(m["Subject"])]
    assert failure["To"] == OPERATOR
    assert str(failure["Subject"]).endswith("€120.00 to Ada Lovelace — the money stays with you")
    text = failure.get_body(("plain",))
    assert text is not None
    assert "Refund again from the payment's page" in " ".join(str(text.get_content()).split())

    # Refunding again, now that the money is back.
    await operator.get_by_role("button", name="Review refund…").click()
    await operator.get_by_role("button", name="Yes, refund €120.00").click()
    await expect_status(page, "refunded", "Refunded")
